from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import logging as amas_logging
        from apps.core import metrics_recorders, tracing
        from apps.tasks.hooks import register_event_hook
        from apps.webhooks import selectors, services

        register_event_hook(services.deliveries_create_for_event)
        # The operations wiring of issue 10 lives with this app's ready(): task/ledger/API metrics,
        # the log context that travels from web to worker in Celery headers, optional tracing.
        metrics_recorders.install()
        amas_logging.install()
        amas_logging.register_task_context("webhooks.deliver", selectors.delivery_log_context)
        tracing.install()  # only when an OTLP endpoint is configured
