"""Writes for webhook endpoints: what an organisation admin creates, changes, pings, replays and
deletes. Sending is the delivery engine's job (deliveries.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.vocabulary import Classification
from apps.users.models import User
from apps.webhooks import deliveries, signing, transport
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint


def _require_admin(user: User) -> None:
    if not user.is_org_admin:
        raise PermissionDenied("Only organisation admins manage webhooks.")


def _validate_events(event_types: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(e.strip() for e in event_types if e.strip()))
    if not cleaned:
        raise ValidationFailed("Subscribe to at least one event type.", extra={"field": "event_types"})
    for name in cleaned:
        if name not in deliveries.EVENT_TYPES and name not in deliveries.PATTERNS:
            raise ValidationFailed(
                f"Unknown event type {name!r}; "
                f"one of {', '.join(deliveries.EVENT_TYPES)} or task.*, step.*, *.",
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
    if user.organization_id is None:
        raise ValidationFailed("Only members of an organisation can create webhook endpoints.")
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
        event_type=deliveries.PING_EVENT,
        body=deliveries.event_body(
            event_id=f"ping:{int(now.timestamp() * 1000)}",
            event_type=deliveries.PING_EVENT,
            created_at=now,
            task=None,
            data={"endpoint": endpoint.name, "by": user.email},
        ),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: deliveries.enqueue([delivery.id]))
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
    transaction.on_commit(lambda: deliveries.enqueue([replay.id]))
    return replay
