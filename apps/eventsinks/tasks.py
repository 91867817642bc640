"""Celery task for event sinks (queue `webhooks`, next to webhook deliveries): a thin wrapper."""

import amqp
from celery import shared_task

from apps.eventsinks import deliveries


@shared_task(name="eventsinks.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sink_delivery_attempt_task(delivery_id: str) -> str:
    return deliveries.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="eventsinks.dispatch_due", ignore_result=True)
def sink_deliveries_dispatch_due_task() -> int:
    return deliveries.deliveries_dispatch_due()


@shared_task(
    name="eventsinks.inbound_status_reply",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError, amqp.exceptions.AMQPError),
    retry_backoff=5,
    max_retries=8,
)
def inbound_status_reply_task(record_id: int, event_type: str) -> None:
    from apps.eventsinks.inbound_consumer import status_reply_publish

    status_reply_publish(record_id=record_id, event_type=event_type)
