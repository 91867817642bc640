"""Inbound task requests: what the consumer (`python manage.py inbound_consume`) does with one
message from the request queue. The body is the JSON of POST /api/v1/tasks, validated by the same
schema (apps.tasks.schemas.TaskIn) and created by the same service (task_create) under a service
account: the user of the API token AMAS_INBOUND_TOKEN, whose role and token scopes decide, in its
organisation.

Guarantees: at least once from the broker (manual acks), at most one task per message_id (the
InboundRequest row, locked while a message is processed), an outcome for every message (a reply:
accepted with the task id, or rejected with the reason), poison messages (undecodable, or failing
AMAS_INBOUND_MAX_ATTEMPTS times, a consumer killed mid-message included) on the dead-letter queue
with the reason in headers. The broker side (declare, consume, publish, ack) is inbound_consumer.py."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from pydantic import ValidationError as SchemaError

from apps.core.api_parsing import control_character_at
from apps.core.exceptions import ApplicationError
from apps.eventsinks.models import InboundRequest, InboundStatus

log = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"task.completed", "task.failed", "task.cancelled", "task.timed_out"})


@dataclass
class Outcome:
    """What the consumer does with the message: `ack` it, `requeue` it (a transient failure), or
    move it to the dead-letter queue (`dead`, with `reason`) and ack it. `reply` is published
    first when set."""

    action: str
    reply: dict[str, Any] | None = None
    reason: str = ""
    record_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _rejection(reason: str, *, message_id: str, **extra: Any) -> dict[str, Any]:
    return {"status": "rejected", "message_id": message_id, "reason": reason, **extra}


def decode(body: bytes | str) -> dict[str, Any]:
    """The request document; ValueError naming what is wrong when the bytes are not a JSON object."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise ValueError("the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"the body must be a JSON object, not {type(data).__name__}")
    return data


def request_handle(
    *, body: bytes | str, message_id: str, reply_to: str = "", correlation_id: str = ""
) -> Outcome:
    """Process one request message. Never raises for bad input; an unexpected error (database
    down, a bug) is recorded against the message and answered with `requeue` until the attempts
    run out."""
    if not message_id:
        try:
            decode(body)
        except ValueError as exc:
            reason = f"undecodable: {exc}"
            return Outcome("dead", reply=_rejection(reason, message_id=""), reason=reason)
        reason = "message_id is required: requests are de-duplicated by it"
        return Outcome("ack", reply=_rejection(reason, message_id="", field="message_id"))
    message_id = message_id.replace("\x00", "")[:200]  # PostgreSQL text cannot hold NUL
    with transaction.atomic():
        record, _ = InboundRequest.objects.select_for_update().get_or_create(
            message_id=message_id,
            defaults={"reply_to": reply_to[:255], "correlation_id": correlation_id[:255]},
        )
        if record.status != InboundStatus.PROCESSING:
            # A redelivery (or a producer's retry) of a message already decided: answer again only if
            # the first reply may not have gone out.
            reply = record.reply if record.replied_at is None and record.reply else None
            return Outcome("ack", reply=reply, record_id=record.pk, extra={"duplicate": True})
        if record.attempts >= settings.AMAS_INBOUND_MAX_ATTEMPTS:
            reason = f"failed {record.attempts} times; last error: {record.last_error or 'consumer lost'}"
            return _decided(
                record, InboundStatus.DEAD, _rejection(reason, message_id=message_id), dead=reason
            )
        # Counted before the work, in its own transaction: a consumer killed below still counts.
        record.attempts += 1
        record.save(update_fields=["attempts", "updated_at"])
    try:
        data = decode(body)
    except ValueError as exc:
        reason = f"undecodable: {exc}"
        with transaction.atomic():
            record = InboundRequest.objects.select_for_update().get(pk=record.pk)
            return _decided(
                record, InboundStatus.DEAD, _rejection(reason, message_id=message_id), dead=reason
            )
    try:
        return _create(record_id=record.pk, message_id=message_id, data=data)
    except Exception as exc:
        log.exception("Inbound request %s failed (attempt %s)", message_id, record.attempts)
        InboundRequest.objects.filter(pk=record.pk).update(last_error=f"{type(exc).__name__}: {exc}"[:500])
        return Outcome("requeue", record_id=record.pk, reason=str(exc))


def _create(*, record_id: int, message_id: str, data: dict[str, Any]) -> Outcome:
    from apps.tasks.schemas import TaskIn
    from apps.tasks.services import task_create
    from apps.users.permissions import has_scope
    from apps.users.services import token_authenticate

    with transaction.atomic():
        record = InboundRequest.objects.select_for_update().get(pk=record_id)
        if record.status != InboundStatus.PROCESSING:  # another consumer got there first
            return Outcome("ack", record_id=record.pk, extra={"duplicate": True})
        token = token_authenticate(secret=settings.AMAS_INBOUND_TOKEN, ip="inbound-amqp")
        if token is None:
            reason = "the service account's API token (AMAS_INBOUND_TOKEN) is missing, expired or revoked"
            return _decided(record, InboundStatus.REJECTED, _rejection(reason, message_id=message_id))
        user = token.user
        if not has_scope(user=user, token=token, scope="tasks:write"):
            reason = "the service account may not create tasks (its role or token lacks tasks:write)"
            return _decided(record, InboundStatus.REJECTED, _rejection(reason, message_id=message_id))
        record.organization_id = user.organization_id
        # As the API screens its bodies (apps/core/api_parsing.py): NUL cannot be stored.
        if bad := control_character_at(data, root=""):
            errors = [{"field": bad.lstrip("."), "msg": "contains a control character (such as NUL)"}]
            reason = f"Invalid input: {errors[0]['field']} contains a control character (such as NUL)"
            return _decided(
                record, InboundStatus.REJECTED, _rejection(reason, message_id=message_id, errors=errors)
            )
        try:
            payload = TaskIn.model_validate(data)
        except SchemaError as exc:
            errors = [
                {"field": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]} for err in exc.errors()
            ]
            reason = "Invalid input: " + ", ".join(e["field"] for e in errors)
            rejection = _rejection(reason, message_id=message_id, errors=errors)
            return _decided(record, InboundStatus.REJECTED, rejection)
        try:
            with transaction.atomic():
                task = task_create(
                    user=user,
                    title=payload.title,
                    task_type=payload.task_type,
                    target=payload.target,
                    description=payload.description,
                    parameters=payload.parameters,
                    agents=payload.agents,
                    priority=payload.priority,
                    classification=payload.classification,
                    schedule=payload.schedule.model_dump(exclude_none=True) if payload.schedule else None,
                )
        except ApplicationError as exc:
            rejection = _rejection(exc.message, message_id=message_id, **exc.extra)
            return _decided(record, InboundStatus.REJECTED, rejection)
        record.task = task
        accepted = {
            "status": "accepted",
            "message_id": message_id,
            "task_id": str(task.id),
            "task_status": task.status,
        }
        return _decided(record, InboundStatus.ACCEPTED, accepted)


def _decided(record: InboundRequest, status: str, reply: dict[str, Any], *, dead: str = "") -> Outcome:
    record.status = status
    record.reply = reply
    if dead:
        record.last_error = dead[:500]
    record.save(update_fields=["status", "reply", "last_error", "task", "organization", "updated_at"])
    return Outcome("dead" if dead else "ack", reply=reply, reason=dead, record_id=record.pk)


def reply_sent(*, record_id: int | None) -> None:
    from django.utils import timezone

    if record_id is not None:
        InboundRequest.objects.filter(pk=record_id, replied_at=None).update(replied_at=timezone.now())


def reply_destination(*, reply_to: str, status: str) -> tuple[str, str]:
    """(exchange, routing key): the request's reply_to queue through the default exchange, as AMQP
    RPC clients expect, else the reply exchange with routing key task.<status>."""
    if reply_to:
        return "", reply_to
    return settings.AMAS_INBOUND_REPLY_EXCHANGE, f"task.{status}"


def status_replies_for_event(event: Any) -> None:
    """Event hook (after commit): when a task created from an inbound request ends, queue a reply
    with its terminal status. Never raises."""
    if event.type not in TERMINAL_EVENTS or not settings.AMAS_INBOUND_AMQP_URL:
        return
    try:
        from apps.eventsinks.tasks import inbound_status_reply_task

        for record_id in InboundRequest.objects.filter(task_id=event.task_id).values_list("pk", flat=True):
            inbound_status_reply_task.apply_async((record_id, event.type), queue=settings.AMAS_WEBHOOK_QUEUE)
    except Exception:
        log.exception("Could not queue the inbound status reply for event %s", getattr(event, "pk", event))


def status_reply(*, record_id: int, event_type: str) -> dict[str, Any] | None:
    """The terminal-status reply of an accepted request (None when there is nothing to say)."""
    record = InboundRequest.objects.select_related("task").filter(pk=record_id).first()
    if record is None or record.task is None:
        return None
    return {
        "status": event_type.removeprefix("task."),
        "message_id": record.message_id,
        "task_id": str(record.task_id),
        "task_status": record.task.status,
        "error_message": record.task.error_message,
    }
