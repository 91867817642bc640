"""Writes for webhooks: endpoints, the deliveries an event fans out to, each attempt's outcome,
retries with backoff, auto-disable, replay."""

from __future__ import annotations

import fnmatch
import json
import logging
import random
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core import metrics
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.vocabulary import Classification
from apps.tasks.models import Task, TaskEvent
from apps.users.models import User
from apps.webhooks import signing, transport
from apps.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

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
_PATTERNS = {"*", "task.*", "step.*"}


def _require_admin(user: User) -> None:
    if not user.is_org_admin:
        raise PermissionDenied("Only organisation admins manage webhooks.")


def _validate_events(event_types: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(e.strip() for e in event_types if e.strip()))
    if not cleaned:
        raise ValidationFailed("Subscribe to at least one event type.", extra={"field": "event_types"})
    for name in cleaned:
        if name not in EVENT_TYPES and name not in _PATTERNS:
            raise ValidationFailed(
                f"Unknown event type {name!r}; one of {', '.join(EVENT_TYPES)} or task.*, step.*, *.",
                extra={"field": "event_types"},
            )
    return cleaned


def _validate_url(url: str) -> str:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except DjangoValidationError:
        raise ValidationFailed("Not a valid http(s) URL.", extra={"field": "url"}) from None
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValidationFailed(
            "Put no credentials in the URL; deliveries are signed.", extra={"field": "url"}
        )
    if settings.AMAS_WEBHOOK_REQUIRE_HTTPS and parts.scheme != "https":
        raise ValidationFailed("Webhook URLs must use https.", extra={"field": "url"})
    refusal = transport.refusal_reason(url)
    if refusal:
        raise ValidationFailed(f"This URL is not allowed: {refusal}", extra={"field": "url"})
    return url


def _audit(event_type: str, endpoint: WebhookEndpoint, actor: User | None, changes: dict) -> None:
    try:
        from apps.audit.services import audit_record
    except ImportError:  # pragma: no cover - the audit app ships with AMAS
        return
    audit_record(
        event_type=event_type,
        entity_type="webhook_endpoint",
        entity_id=endpoint.pk,
        actor=actor,
        organization=endpoint.organization,
        changes=changes,
    )


@transaction.atomic
def endpoint_create(
    *,
    user: User,
    name: str,
    url: str,
    event_types: list[str],
    secret: str = "",
    max_classification: str = Classification.AMBER,
    active: bool = True,
) -> WebhookEndpoint:
    """Create an endpoint; with no secret given, one is generated (shown to the admin once)."""
    _require_admin(user)
    if max_classification not in Classification.values:
        raise ValidationFailed("Unknown classification.", extra={"field": "max_classification"})
    endpoint = WebhookEndpoint(
        organization_id=user.organization_id,
        name=name.strip(),
        url=_validate_url(url),
        event_types=_validate_events(event_types),
        secret=secret or signing.secret_generate(),
        max_classification=max_classification,
        active=active,
        created_by=user,
    )
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        raise Conflict(f"An endpoint named {name!r} exists already.", extra={"field": "name"}) from None
    _audit("webhook.create", endpoint, user, {"url": endpoint.url, "event_types": endpoint.event_types})
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, user: User, **changes: Any) -> WebhookEndpoint:
    """Change name, url, event_types, max_classification or active. Re-activating an endpoint
    clears its failure streak."""
    _require_admin(user)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    fields: list[str] = []
    if changes.get("name") is not None:
        endpoint.name = changes["name"].strip()
        fields.append("name")
    if changes.get("url") is not None:
        endpoint.url = _validate_url(changes["url"])
        fields.append("url")
    if changes.get("event_types") is not None:
        endpoint.event_types = _validate_events(changes["event_types"])
        fields.append("event_types")
    if changes.get("max_classification") is not None:
        if changes["max_classification"] not in Classification.values:
            raise ValidationFailed("Unknown classification.", extra={"field": "max_classification"})
        endpoint.max_classification = changes["max_classification"]
        fields.append("max_classification")
    if changes.get("active") is not None and changes["active"] != endpoint.active:
        endpoint.active = changes["active"]
        fields.append("active")
        if endpoint.active:
            endpoint.consecutive_failures = 0
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
            fields += ["consecutive_failures", "disabled_at", "disabled_reason"]
    if fields:
        try:
            with transaction.atomic():
                endpoint.save(update_fields=[*fields, "updated_at"])
        except IntegrityError:
            raise Conflict("An endpoint with this name exists already.", extra={"field": "name"}) from None
        _audit("webhook.update", endpoint, user, {f: str(getattr(endpoint, f)) for f in fields})
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, user: User) -> WebhookEndpoint:
    _require_admin(user)
    endpoint.secret = signing.secret_generate()
    endpoint.save(update_fields=["secret", "updated_at"])
    _audit("webhook.rotate_secret", endpoint, user, {})
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, user: User) -> None:
    _require_admin(user)
    _audit("webhook.delete", endpoint, user, {"url": endpoint.url})
    endpoint.delete()


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
    _audit(
        "webhook.auto_disable", endpoint, None, {"reason": reason, "failures": endpoint.consecutive_failures}
    )
    transaction.on_commit(lambda: metrics.WEBHOOK_DISABLED.inc(reason=metric_reason))
    log.warning("Webhook endpoint %s disabled: %s", endpoint.pk, reason)


# --- deliveries -------------------------------------------------------------------------------


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in endpoint.event_types)


def _body(*, event_id: str, event_type: str, created_at: Any, task: Task | None, data: dict) -> str:
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


def _enqueue(delivery_ids: list[Any], countdown: float | None = None) -> None:
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


def _deliveries_create(event: TaskEvent) -> list[WebhookDelivery]:
    endpoints = list(WebhookEndpoint.objects.filter(organization__tasks=event.task_id, active=True))
    endpoints = [e for e in endpoints if subscribed(e, event.type)]
    if not endpoints:
        return []
    task = Task.objects.get(pk=event.task_id)
    rank = Classification.rank(task.classification)
    endpoints = [e for e in endpoints if Classification.rank(e.max_classification) >= rank]
    if not endpoints:
        return []
    body = _body(
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
        transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


@transaction.atomic
def endpoint_ping(*, endpoint: WebhookEndpoint, user: User) -> WebhookDelivery:
    """Send a `webhook.ping` event so an admin can check the receiver and its verification."""
    _require_admin(user)
    if not endpoint.active:
        raise Conflict("The endpoint is disabled; enable it first.")
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=f"ping:{int(now.timestamp() * 1000)}",
        event_type=PING_EVENT,
        body=_body(
            event_id=f"ping:{int(now.timestamp() * 1000)}",
            event_type=PING_EVENT,
            created_at=now,
            task=None,
            data={"endpoint": endpoint.name, "by": user.email},
        ),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: _enqueue([delivery.id]))
    return delivery


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, user: User | None) -> WebhookDelivery:
    """Send a delivery again as a new delivery (new X-AMAS-Delivery id, same event id and body)."""
    if user is not None:
        _require_admin(user)
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    if not endpoint.active:
        raise Conflict("The endpoint is disabled; enable it before replaying.")
    replay = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=delivery.event_id,
        task_event=delivery.task_event,
        event_type=delivery.event_type,
        task_id=delivery.task_id,
        body=delivery.body,
        next_attempt_at=timezone.now(),
        replay_of=delivery,
    )
    _audit("webhook.replay", endpoint, user, {"delivery": str(delivery.id), "replay": str(replay.id)})
    transaction.on_commit(lambda: _enqueue([replay.id]))
    return replay


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
        transaction.on_commit(lambda: _enqueue([delivery_pk], countdown=retry_in))
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
    _enqueue(due)
    return len(due)
