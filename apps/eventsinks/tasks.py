"""Celery task for event sinks (queue `webhooks`, next to webhook deliveries): a thin wrapper."""

from celery import shared_task

from apps.eventsinks import deliveries


@shared_task(name="eventsinks.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sink_delivery_attempt_task(delivery_id: str) -> str:
    return deliveries.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="eventsinks.dispatch_due", ignore_result=True)
def sink_deliveries_dispatch_due_task() -> int:
    return deliveries.deliveries_dispatch_due()
