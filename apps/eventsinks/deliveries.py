"""Delivery of task and step events to event sinks: fan-out when an event is committed (the same
event hook webhooks use), each publish attempt, retries with exponential back-off, sink health.

At least once: a delivery is marked succeeded only after the broker's publisher confirm, so a
crash between the confirm and our update publishes it again with the same message_id."""

from __future__ import annotations

import fnmatch
import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core import metrics
from apps.core.vocabulary import Classification
from apps.eventsinks import transport
from apps.eventsinks.models import EventSink, SinkDelivery, SinkDeliveryStatus
from apps.eventsinks.selectors import sinks_active
from apps.tasks.models import Task, TaskEvent

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_BASE = 5.0  # seconds before the 2nd attempt; doubles up to BACKOFF_MAX
BACKOFF_MAX = 900.0
SWEEP_GRACE_SECONDS = 60.0

DELIVERIES = metrics.counter(
    "amas_event_sink_deliveries_total",
    "Event-sink publish attempts by sink kind and outcome.",
    ["kind", "outcome"],
)


def subscribed(sink: EventSink, event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in sink.event_types)


def message_body(*, event_id: str, event: TaskEvent, task: Task) -> str:
    """The same document a webhook receives (without the HTTP signature)."""
    body: dict[str, Any] = {
        "id": event_id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "task": {
            "id": str(task.id),
            "title": task.title,
            "task_type": task.task_type,
            "status": task.status,
            "progress": task.progress,
            "priority": task.priority,
            "classification": task.classification,
        },
        "data": event.payload,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)


def enqueue(delivery_ids: list[Any], countdown: float | None = None) -> None:
    from apps.eventsinks.tasks import sink_delivery_attempt_task

    for delivery_id in delivery_ids:
        sink_delivery_attempt_task.apply_async(
            (str(delivery_id),), queue=settings.AMAS_WEBHOOK_QUEUE, countdown=countdown
        )


def deliveries_create_for_event(event: TaskEvent) -> list[SinkDelivery]:
    """Event hook (after commit). Never raises: a broken sink must not disturb the pipeline."""
    try:
        return _deliveries_create(event)
    except Exception:
        log.exception("Could not create event-sink deliveries for event %s", getattr(event, "pk", event))
        return []


def _organization_id(event: TaskEvent) -> int | None:
    if TaskEvent.task.is_cached(event):  # the pipeline's events carry their task
        return event.task.organization_id
    return Task.objects.filter(pk=event.task_id).values_list("organization_id", flat=True).first()


def _deliveries_create(event: TaskEvent) -> list[SinkDelivery]:
    organization_id = _organization_id(event)
    if organization_id is None:  # the task is gone
        return []
    sinks = [s for s in sinks_active(organization_id=organization_id) if subscribed(s, event.type)]
    if not sinks:
        return []
    task = Task.objects.get(pk=event.task_id)
    rank = Classification.rank(task.classification)
    sinks = [s for s in sinks if Classification.rank(s.max_classification) >= rank]
    if not sinks:
        return []
    event_id = f"{event.task_id}:{event.seq}"
    body = message_body(event_id=event_id, event=event, task=task)
    now = timezone.now()
    with transaction.atomic():
        deliveries = SinkDelivery.objects.bulk_create(
            SinkDelivery(
                sink=sink,
                event_id=event_id,
                event_type=event.type,
                task_id=event.task_id,
                body=body,
                next_attempt_at=now,
            )
            for sink in sinks
        )
        ids = [d.id for d in deliveries]
        transaction.on_commit(lambda: enqueue(ids))
    return deliveries


def backoff(attempts: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))


def delivery_attempt(*, delivery_id: str) -> str:
    """Publish one pending delivery; on failure schedule the next attempt (or give up)."""
    with transaction.atomic():
        delivery = (
            # of=self: lock the delivery only; the joined sink row is updated by every attempt.
            SinkDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("sink")
            .filter(pk=delivery_id, status=SinkDeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:
            return "skipped"
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    sink = delivery.sink
    now = timezone.now()
    try:
        transport.publish_to_sink(
            sink=sink,
            body=delivery.body,
            message_id=delivery.event_id,
            event_type=delivery.event_type,
            task_id=str(delivery.task_id) if delivery.task_id else None,
        )
    except transport.PublishError as exc:
        return _failed(delivery, sink, str(exc), now)
    delivery.status = SinkDeliveryStatus.SUCCEEDED
    delivery.delivered_at = now
    delivery.next_attempt_at = None
    delivery.last_error = ""
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_error"])
    EventSink.objects.filter(pk=sink.pk).update(
        consecutive_failures=0, total_successes=F("total_successes") + 1, last_success_at=now
    )
    DELIVERIES.inc(kind=sink.kind, outcome="succeeded")
    return "succeeded"


def _failed(delivery: SinkDelivery, sink: EventSink, error: str, now: Any) -> str:
    delivery.last_error = error[:500]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = SinkDeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
    delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
    EventSink.objects.filter(pk=sink.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        total_failures=F("total_failures") + 1,
        last_failure_at=now,
        last_error=error[:500],
    )
    outcome = "retrying" if delivery.status == SinkDeliveryStatus.PENDING else "failed"
    DELIVERIES.inc(kind=sink.kind, outcome=outcome)
    if outcome == "retrying":
        countdown = (delivery.next_attempt_at - now).total_seconds()
        transaction.on_commit(lambda: enqueue([delivery.id], countdown=countdown))
    return outcome


def deliveries_dispatch_due(*, limit: int = 500) -> int:
    """Beat sweep: queue pending deliveries overdue by a minute (a retry message lost with a
    worker or the broker). Should one be attempted twice at once, both may publish: delivery is at
    least once and consumers deduplicate on message_id."""
    cutoff = timezone.now() - timedelta(seconds=SWEEP_GRACE_SECONDS)
    due = list(
        SinkDelivery.objects.filter(status=SinkDeliveryStatus.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    enqueue(due)
    return len(due)
