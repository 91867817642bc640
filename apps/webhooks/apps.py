from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.core import logging as amas_logging
        from apps.tasks.hooks import register_event_hook
        from apps.webhooks import deliveries, observability, selectors
        from apps.webhooks.models import WebhookEndpoint

        register_event_hook(deliveries.deliveries_create_for_event)
        for signal in (post_save, post_delete):
            signal.connect(
                selectors.endpoints_cache_drop, sender=WebhookEndpoint, dispatch_uid="webhooks-endpoints"
            )
        amas_logging.register_task_context("webhooks.deliver", selectors.delivery_log_context)
        observability.register()  # endpoint and pending-delivery gauges
