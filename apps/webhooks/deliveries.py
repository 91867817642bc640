"""The webhook delivery engine: the deliveries an event fans out to, each attempt and its
outcome, retries with backoff, auto-disable of an endpoint that keeps failing, and the beat sweep.
Endpoint management (what admins change) is in services.py."""

from __future__ import annotations

import fnmatch
import json
import logging
import random
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import metrics
from apps.core.vocabulary import Classification
from apps.tasks.models import Task, TaskEvent
from apps.webhooks import signing, transport
from apps.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.selectors import endpoints_active

log = logging.getLogger(__name__)

TASK_EVENT_TYPES = (
    "task.created",
    "task.queued",
    "task.started",
    "task.completed",
    "task.failed",
    "task.cancelled",
    "task.timed_out",
)
STEP_EVENT_TYPES = (
    "step.queued",
    "step.started",
    "step.progress",
    "step.completed",
    "step.failed",
    "step.retrying",
    "step.cancelled",
    "step.timed_out",
)
EVENT_TYPES = TASK_EVENT_TYPES + STEP_EVENT_TYPES
PING_EVENT = "webhook.ping"
PATTERNS = {"*", "task.*", "step.*"}


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in endpoint.event_types)


def event_body(*, event_id: str, event_type: str, created_at: Any, task: Task | None, data: dict) -> str:
    body: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at.isoformat(),
        "task": (
            {
                "id": str(task.id),
                "title": task.title,
                "task_type": task.task_type,
                "status": task.status,
                "progress": task.progress,
                "priority": task.priority,
                "classification": task.classification,
            }
            if task is not None
            else None
        ),
        "data": data,
    }
    text = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)
    if len(text.encode()) > settings.AMAS_WEBHOOK_MAX_BODY_BYTES:
        # Large results are fetched from the API (GET /api/v1/tasks/<id>/results) instead.
        body["data"] = {"truncated": True, "keys": sorted(data)[:50]}
        text = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)
    return text


def enqueue(delivery_ids: list[Any], countdown: float | None = None) -> None:
    from apps.webhooks.tasks import delivery_attempt_task

    for delivery_id in delivery_ids:
        delivery_attempt_task.apply_async(
            (str(delivery_id),), queue=settings.AMAS_WEBHOOK_QUEUE, countdown=countdown
        )


def deliveries_create_for_event(event: TaskEvent) -> list[WebhookDelivery]:
    """Event hook (after commit): one delivery per active endpoint of the task's organisation
    that subscribed to the event and may see the task's classification. Never raises: a broken
    webhook must not disturb the pipeline that produced the event."""
    try:
        return _deliveries_create(event)
    except Exception:
        log.exception("Could not create webhook deliveries for event %s", getattr(event, "pk", event))
        return []


def _organization_id(event: TaskEvent) -> int:
    if TaskEvent.task.is_cached(event):  # the pipeline's events carry their task
        return event.task.organization_id
    return Task.objects.filter(pk=event.task_id).values_list("organization_id", flat=True).get()


def _deliveries_create(event: TaskEvent) -> list[WebhookDelivery]:
    endpoints = [
        e for e in endpoints_active(organization_id=_organization_id(event)) if subscribed(e, event.type)
    ]
    if not endpoints:
        return []
    task = Task.objects.get(pk=event.task_id)
    rank = Classification.rank(task.classification)
    endpoints = [e for e in endpoints if Classification.rank(e.max_classification) >= rank]
    if not endpoints:
        return []
    body = event_body(
        event_id=f"{event.task_id}:{event.seq}",
        event_type=event.type,
        created_at=event.created_at,
        task=task,
        data=event.payload,
    )
    now = timezone.now()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    endpoint=endpoint,
                    task_event=event,
                    event_id=f"{event.task_id}:{event.seq}",
                    event_type=event.type,
                    task_id=event.task_id,
                    body=body,
                    next_attempt_at=now,
                )
                for endpoint in endpoints
            ]
        )
        ids = [d.id for d in deliveries]
        transaction.on_commit(lambda: enqueue(ids))
    return deliveries


def _disable(endpoint: WebhookEndpoint, reason: str, *, metric_reason: str) -> None:
    """Disable a locked endpoint (no actor: the system did it) and cancel what it still owes."""
    now = timezone.now()
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:300]
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason", "updated_at"])
    endpoint.deliveries.filter(status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=f"Endpoint disabled: {reason}"[:500]
    )
    audit_record(
        event_type="webhook.auto_disable",
        entity_type="webhook_endpoint",
        entity_id=endpoint.pk,
        actor=None,
        organization=endpoint.organization,
        changes={"reason": reason, "failures": endpoint.consecutive_failures},
    )
    transaction.on_commit(lambda: metrics.WEBHOOK_DISABLED.inc(reason=metric_reason))
    log.warning("Webhook endpoint %s disabled: %s", endpoint.pk, reason)


def backoff_seconds(attempt: int) -> float:
    """Delay after the `attempt`-th failed attempt: exponential, capped, with +-jitter."""
    base = settings.AMAS_WEBHOOK_BACKOFF_BASE * settings.AMAS_WEBHOOK_BACKOFF_FACTOR ** (attempt - 1)
    delay = min(settings.AMAS_WEBHOOK_BACKOFF_MAX, base)
    jitter = settings.AMAS_WEBHOOK_BACKOFF_JITTER
    return max(0.0, delay * (1 + random.uniform(-jitter, jitter)))


def _claim(delivery_id: Any) -> bool:
    """Take the delivery for one attempt, so a duplicated message does not send it twice at once."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.AMAS_WEBHOOK_TIMEOUT + 60)
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .exclude(claimed_until__gt=now)
        .update(claimed_until=lease)
    )
    return bool(claimed)


def delivery_attempt(*, delivery_id: Any) -> str:
    """Make the next attempt of a pending delivery and record it. Returns the delivery's status
    afterwards ("skipped" when there was nothing to do)."""
    if not _claim(delivery_id):
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.CANCELLED, claimed_until=None, next_attempt_at=None
        )
        return DeliveryStatus.CANCELLED
    number = delivery.attempts + 1
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": settings.AMAS_WEBHOOK_USER_AGENT,
        signing.SIGNATURE_HEADER: signing.signature(endpoint.secret, body),
        signing.DELIVERY_HEADER: str(delivery.id),
        signing.EVENT_HEADER: delivery.event_type,
        signing.EVENT_ID_HEADER: delivery.event_id,
        signing.ATTEMPT_HEADER: str(number),
    }
    started_at = timezone.now()
    started = time.perf_counter()
    outcome = transport.post(endpoint.url, body=body, headers=headers, timeout=settings.AMAS_WEBHOOK_TIMEOUT)
    latency = time.perf_counter() - started
    try:
        status = _record(delivery.pk, number, started_at, latency, outcome)
    except (WebhookDelivery.DoesNotExist, WebhookEndpoint.DoesNotExist):
        return DeliveryStatus.CANCELLED  # the endpoint was deleted while we were sending
    metrics.WEBHOOK_DELIVERIES.inc(outcome=_metric_outcome(outcome, status))
    if outcome.status_code is not None:
        metrics.WEBHOOK_LATENCY.observe(latency)
    return status


def _metric_outcome(outcome: transport.Outcome, status: str) -> str:
    if outcome.ok:
        return "success"
    if outcome.refused:
        return "refused"
    if outcome.status_code is None:
        return "network_error"
    return "gone" if outcome.status_code == 410 else "http_error"


@transaction.atomic
def _record(
    delivery_id: Any, number: int, started_at: Any, latency: float, outcome: transport.Outcome
) -> str:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    now = timezone.now()
    attempt = WebhookAttempt(
        delivery=delivery,
        number=number,
        started_at=started_at,
        status_code=outcome.status_code,
        latency_ms=int(latency * 1000),
        ok=outcome.ok,
        response_excerpt=outcome.excerpt[: settings.AMAS_WEBHOOK_RESPONSE_EXCERPT],
        error=outcome.error[:500],
    )
    delivery.attempts = number
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:500]
    delivery.claimed_until = None
    retry_in: float | None = None
    if outcome.ok:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            consecutive_failures=0, total_successes=F("total_successes") + 1, last_success_at=now
        )
    else:
        endpoint.consecutive_failures += 1
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            consecutive_failures=F("consecutive_failures") + 1,
            total_failures=F("total_failures") + 1,
            last_failure_at=now,
        )
        if outcome.status_code == 410:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            delivery.save()
            # Two deliveries in flight can both meet the 410; the endpoint row is locked, so the
            # second sees it disabled already: one disable, one audit row.
            if endpoint.active:
                _disable(endpoint, "The receiver answered 410 Gone.", metric_reason="gone")
        elif outcome.refused:
            # Egress policy refused the address (private, metadata, ...): retrying cannot help.
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        elif number >= settings.AMAS_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            retry_in = backoff_seconds(number)
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
            attempt.next_retry_at = delivery.next_attempt_at
        if (
            endpoint.active
            and outcome.status_code != 410
            and endpoint.consecutive_failures >= settings.AMAS_WEBHOOK_DISABLE_AFTER_FAILURES
        ):
            delivery.save()
            _disable(
                endpoint,
                f"{endpoint.consecutive_failures} consecutive failed attempts.",
                metric_reason="failures",
            )
            delivery.refresh_from_db()
            retry_in = None
    attempt.save()
    delivery.save()
    if retry_in is not None and retry_in <= settings.AMAS_WEBHOOK_ETA_MAX_SECONDS:
        # Short waits ride on a Celery countdown; longer ones are picked up by the beat sweep
        # (a worker holding a message for hours would pass the broker's visibility timeout).
        delivery_pk = delivery.pk
        transaction.on_commit(lambda: enqueue([delivery_pk], countdown=retry_in))
    return delivery.status


SWEEP_GRACE_SECONDS = 60


def deliveries_dispatch_due(*, limit: int = 500) -> int:
    """Beat sweep: queue pending deliveries whose next attempt is overdue (long backoffs, which
    ride on no message, and messages lost with a worker). Only those due for a minute are taken,
    so deliveries whose message is merely waiting in a busy queue are not queued again and again;
    the claim in delivery_attempt makes an occasional double harmless."""
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS)
        )
        .exclude(claimed_until__gt=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    enqueue(due)
    return len(due)
