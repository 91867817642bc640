from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import logging as amas_logging
        from apps.tasks.hooks import register_event_hook
        from apps.webhooks import deliveries, observability, selectors

        register_event_hook(deliveries.deliveries_create_for_event)
        amas_logging.register_task_context("webhooks.deliver", selectors.delivery_log_context)
        observability.register()  # endpoint and pending-delivery gauges
