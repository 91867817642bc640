from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "apps.providers"
    label = "providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from apps.agents.context import register_context_contributor
        from apps.providers import config, observability
        from apps.providers.adapters import load_entry_point_adapters, register_builtin_adapters
        from apps.providers.attribution import result_usage_from_ledger
        from apps.providers.context import contribute_ai
        from apps.providers.models import Budget, Provider
        from apps.providers.selectors import provider_spend_by_step
        from apps.tasks.hooks import register_result_hook, register_step_spend_source

        # Adapters by API style (Provider.kind is validated against this registry).
        register_builtin_adapters()
        load_entry_point_adapters()
        register_context_contributor(contribute_ai)
        # Tokens, cost and authorship of generated text on every Result come from the ledger.
        register_result_hook(result_usage_from_ledger)
        # The decision engine's agent history counts the ledger's spend per step.
        register_step_spend_source(provider_spend_by_step)
        observability.register()  # ledger metrics, breaker gauge, the "providers" health node

        # A budget row is configuration too: the same version counter tells every process.
        post_save.connect(config.providers_changed, sender=Budget, dispatch_uid="providers.budget_saved")
        post_delete.connect(config.providers_changed, sender=Budget, dispatch_uid="providers.budget_deleted")
        post_save.connect(config.providers_changed, sender=Provider, dispatch_uid="providers.saved")
        post_delete.connect(config.providers_changed, sender=Provider, dispatch_uid="providers.deleted")
        post_migrate.connect(config.providers_changed, sender=self, dispatch_uid="providers.migrated")

        # A Celery pool child may leave without running atexit: write what it queued first.
        from celery.signals import worker_process_shutdown

        from apps.providers import bookkeeping

        worker_process_shutdown.connect(bookkeeping.on_shutdown, dispatch_uid="providers.bookkeeping")
