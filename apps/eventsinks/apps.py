from django.apps import AppConfig


class EventSinksConfig(AppConfig):
    name = "apps.eventsinks"
    label = "eventsinks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.eventsinks import deliveries, inbound, observability
        from apps.tasks.hooks import register_event_hook

        # Fed from the same after-commit event outbox as webhooks (apps/tasks/outbox.py).
        register_event_hook(deliveries.deliveries_create_for_event)
        register_event_hook(inbound.status_replies_for_event)  # terminal status to inbound requesters
        observability.register()  # a node in the service-health graph
