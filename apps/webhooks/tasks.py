"""Celery tasks for webhooks (queue `webhooks`): thin wrappers over the delivery engine."""

from celery import shared_task

from apps.webhooks import deliveries


@shared_task(name="webhooks.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def delivery_attempt_task(delivery_id: str) -> str:
    return deliveries.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.dispatch_due", ignore_result=True)
def deliveries_dispatch_due_task() -> int:
    return deliveries.deliveries_dispatch_due()
