"""Writes for event sinks: what an organisation admin creates, changes, test-sends and deletes.
Publishing is the delivery engine's job (deliveries.py). The sink URL may carry the broker's
password: it is stored encrypted (EncryptedTextField) and shown only redacted (url_redacted)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.vocabulary import Classification
from apps.eventsinks.models import EventSink, SinkDelivery, SinkKind
from apps.users.models import User

TEST_EVENT = "sink.test"
_BOOTSTRAP = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
# AMQP exchange names (letters, digits, - _ . :; amq.* is the broker's) and Kafka topic names.
_NAMES = {
    SinkKind.AMQP: re.compile(r"^(?!amq\.)[A-Za-z0-9_.:-]+$"),
    SinkKind.KAFKA: re.compile(r"^[A-Za-z0-9_.-]+$"),
}


def url_redacted(url: str) -> str:
    """The URL with its password replaced by *** (for answers, lists and the audit log)."""
    parts = urlsplit(url or "")
    if parts.password is None:
        return url
    user, _, hosts = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{hosts}"))


def _require_admin(user: User) -> None:
    if not user.is_org_admin:
        raise PermissionDenied("Only organisation admins manage event sinks.")


def _validated(sink: EventSink) -> EventSink:
    """The model's own checks (URL scheme for the kind, event patterns) as a 422 naming the field."""
    sink.name = sink.name.strip()
    if not sink.name:
        raise ValidationFailed("A name is required.", extra={"field": "name"})
    if sink.max_classification not in Classification.values:
        raise ValidationFailed("Unknown classification.", extra={"field": "max_classification"})
    if not _NAMES[SinkKind(sink.kind)].match(sink.exchange):
        what = "topic" if sink.kind == SinkKind.KAFKA else "exchange"
        raise ValidationFailed(
            f"Not a valid {what} name: letters, digits, '.', '_', '-'"
            + (" and ':' (not amq.*)." if sink.kind == SinkKind.AMQP else "."),
            extra={"field": "exchange"},
        )
    _check_url(sink)
    sink.event_types = list(dict.fromkeys(e.strip() for e in sink.event_types if isinstance(e, str)))
    try:
        sink.clean()
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ValidationFailed(" ".join(messages), extra={"field": field}) from None
    return sink


def _check_url(sink: EventSink) -> None:
    try:
        parts = urlsplit(sink.url)
        if sink.kind == SinkKind.AMQP:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ValidationFailed(f"Not a valid URL: {exc}.", extra={"field": "url"}) from None
    if sink.kind == SinkKind.KAFKA and parts.scheme in ("kafka", "kafkas"):
        hosts = parts.netloc.rpartition("@")[2].split(",")
        bad = [h for h in hosts if not _BOOTSTRAP.match(h) or not 0 < int(h.rpartition(":")[2]) < 65536]
        if bad:
            raise ValidationFailed(
                f"Bootstrap servers are host:port, comma-separated; not {', '.join(bad)!r}.",
                extra={"field": "url"},
            )


def _saved(sink: EventSink, update_fields: list[str] | None = None) -> EventSink:
    try:
        with transaction.atomic():
            sink.save(update_fields=update_fields)
    except IntegrityError:
        raise Conflict(
            f"An event sink named {sink.name!r} exists already.", extra={"field": "name"}
        ) from None
    return sink


def _audit(event_type: str, sink: EventSink, actor: User, changes: dict[str, Any]) -> None:
    audit_record(
        event_type=event_type,
        entity_type="event_sink",
        entity_id=sink.pk,
        actor=actor,
        organization_id=sink.organization_id,
        changes=changes,
    )


@transaction.atomic
def sink_create(
    *,
    user: User,
    name: str,
    url: str,
    event_types: list[str],
    kind: str = SinkKind.AMQP,
    exchange: str = "amas.events",
    max_classification: str = Classification.AMBER,
    active: bool = True,
) -> EventSink:
    _require_admin(user)
    if user.organization_id is None:
        raise ValidationFailed("Only members of an organisation can create event sinks.")
    sink = _validated(
        EventSink(
            organization_id=user.organization_id,
            name=name,
            kind=kind,
            url=url.strip(),
            exchange=exchange.strip(),
            event_types=event_types,
            max_classification=max_classification,
            active=active,
            created_by=user,
        )
    )
    _saved(sink)
    _audit("event_sink.create", sink, user, {"kind": sink.kind, "url": url_redacted(sink.url)})
    return sink


@transaction.atomic
def sink_update(*, sink: EventSink, user: User, **changes: Any) -> EventSink:
    """Change name, url, exchange, event_types, max_classification or active. Re-activating a
    sink clears its failure streak."""
    _require_admin(user)
    sink = EventSink.objects.select_for_update().get(pk=sink.pk)
    fields = [
        f
        for f in ("name", "url", "exchange", "event_types", "max_classification")
        if changes.get(f) is not None
    ]
    for f in fields:
        setattr(sink, f, changes[f].strip() if isinstance(changes[f], str) else changes[f])
    if changes.get("active") is not None and changes["active"] != sink.active:
        sink.active = changes["active"]
        fields.append("active")
        if sink.active:
            sink.consecutive_failures = 0
            fields.append("consecutive_failures")
    if fields:
        _saved(_validated(sink), update_fields=[*fields, "updated_at"])
        shown = {f: url_redacted(sink.url) if f == "url" else str(getattr(sink, f)) for f in fields}
        _audit("event_sink.update", sink, user, shown)
    return sink


@transaction.atomic
def sink_delete(*, sink: EventSink, user: User) -> None:
    _require_admin(user)
    _audit("event_sink.delete", sink, user, {"url": url_redacted(sink.url)})
    sink.delete()


@transaction.atomic
def sink_test_send(*, sink: EventSink, user: User) -> SinkDelivery:
    """Queue a `sink.test` message (routing key sink.test; no Kafka key) so an admin can check the
    broker, credentials and bindings; its delivery record says how it went."""
    _require_admin(user)
    if not sink.active:
        raise Conflict("The event sink is disabled; enable it first.")
    from apps.eventsinks import deliveries

    now = timezone.now()
    event_id = f"test:{sink.pk}:{int(now.timestamp() * 1000)}"
    body = {
        "id": event_id,
        "type": TEST_EVENT,
        "created_at": now.isoformat(),
        "data": {"sink": sink.name, "by": user.email},
    }
    delivery = SinkDelivery.objects.create(
        sink=sink,
        event_id=event_id,
        event_type=TEST_EVENT,
        body=json.dumps(body, separators=(",", ":"), sort_keys=True),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: deliveries.enqueue([delivery.id]))
    _audit("event_sink.test", sink, user, {})
    return delivery
