from django.apps import AppConfig


class EventSinksConfig(AppConfig):
    name = "apps.eventsinks"
    label = "eventsinks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.eventsinks import deliveries, inbound, observability, selectors
        from apps.eventsinks.models import EventSink
        from apps.tasks.hooks import register_event_hook

        for signal in (post_save, post_delete):  # the fan-out's per-process cache of sinks
            signal.connect(selectors.sinks_cache_drop, sender=EventSink, dispatch_uid="eventsinks-active")

        # Fed from the same after-commit event outbox as webhooks (apps/tasks/outbox.py).
        register_event_hook(deliveries.deliveries_create_for_event)
        register_event_hook(inbound.status_replies_for_event)  # terminal status to inbound requesters
        observability.register()  # a node in the service-health graph
