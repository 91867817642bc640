"""Writing the audit trail. Other apps call `audit_record` from their services, inside the
transaction that makes the change, so the row commits or rolls back with it.

A row made while serving a signed-in user carries that request's trust score. Audit does not
compute it (trust is the users app's): the caller passes `trust=`, or, for callers that do not know
about trust, the source the users app registers with `register_request_trust()` supplies it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.context import current_request
from apps.audit.models import AuditEvent
from apps.core import request_context
from apps.core.client_address import client_address
from apps.core.prepared import prepared_cursor
from apps.core.security import redact_data

if TYPE_CHECKING:
    from apps.users.models import Organization, User

# A transaction-scoped advisory lock per chain (two-key form: this class, the chain id): an
# append takes its organisation's lock, reads that chain's head and writes the next row.
# Organisations do not wait for each other; callers should still audit late in their
# transaction, as the lock is held until it commits. All of it is one call of the database
# function audit_append (migration 0005: a function, so the head is read with a snapshot taken
# after the lock is granted): Python hashes the row's content, the function chains that digest
# to the row's place (hash scheme 2, AuditEvent.chained_hash).
AUDIT_LOCK_CLASS = 0x41554454  # "AUDT"; migrations 0004 and 0005 spell it out as 1096107092
_APPEND_SQL = (
    "SELECT row_id, row_seq, row_chain_seq, row_prev_hash, row_hash FROM audit_append("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::jsonb)"
)


class Trust(Protocol):
    """A request's trust score and the factors behind it (apps.users.trust.TrustScore)."""

    score: int
    factors: dict[str, object]


RequestTrust = Callable[[HttpRequest], "Trust | None"]
_request_trust: RequestTrust | None = None


def register_request_trust(source: RequestTrust) -> RequestTrust:
    """Set where rows whose caller passes no `trust` get their request's score (the users app
    registers it in UsersConfig.ready(); without it such rows carry none)."""
    global _request_trust
    _request_trust = source
    return source


def _jsonable(value: Any) -> Any:
    """The value as it will read back from jsonb, so the hash computed now matches the row later
    (string keys, no NUL characters, huge integral floats printed by Postgres as integers)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 1e16:
            return int(value)
        return value
    return str(value).replace("\x00", "")


def audit_record(
    *,
    event_type: str,
    entity_type: str,
    entity_id: str | int = "",
    actor: User | None = None,
    organization: Organization | None = None,
    organization_id: int | None = None,
    changes: dict | None = None,
    request: HttpRequest | None = None,
    trust: Trust | None = None,
) -> AuditEvent:
    """Append one audit row. `changes` passes through the redactor (secret-looking keys become
    "[redacted]"). The request, if given (or if one is being served), supplies ip, user agent and
    request id; `trust` is its user's trust score (if not given, the registered source's)."""
    request = request if request is not None else current_request.get()
    ip = user_agent = ""
    request_id = request_context.request_id.get()
    trust_score = None
    trust_factors: dict = {}
    if request is not None:
        ip = client_address(request)
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
        request_id = getattr(request, "request_id", "") or request_id
        if trust is None and _request_trust is not None:
            trust = _request_trust(request)
    if trust is not None:
        trust_score, trust_factors = trust.score, trust.factors
    if organization is not None:
        organization_id = organization.pk
    elif organization_id is None and actor is not None:
        organization_id = actor.organization_id  # the id: loading the organisation is a query
    event = AuditEvent(
        event_type=event_type,
        entity_type=entity_type,
        entity_id=str(entity_id)[:128],
        actor=actor if actor is not None and actor.pk else None,
        actor_label=(actor.email if actor is not None else "")[:254],
        organization_id=organization_id,
        changes=_jsonable(redact_data(changes or {})),
        ip=ip[:64],
        user_agent=user_agent,
        request_id=request_id[:64],
        trust_score=trust_score,
        trust_factors=_jsonable(trust_factors),
    )
    event.chain = organization_id or 0
    event.hash_scheme = 2
    event.created_at = timezone.now()
    # No savepoint: a failed append raises and so fails the caller's transaction anyway; outside
    # one, atomic() opens the transaction the lock lives in. A prepared statement (fixed text):
    # Postgres parsed and planned the call anew on every append, and the client quoted its 15
    # parameters into the text; every argument has a declared type in audit_append's signature
    # (a None takes it from there, the two jsonb arguments are cast).
    with transaction.atomic(savepoint=False), prepared_cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                event.chain,
                event.content_digest(),
                event.created_at,
                event.event_type,
                event.entity_type,
                event.entity_id,
                event.actor_id,
                event.actor_label,
                event.organization_id,
                _JSON.get_db_prep_save(event.changes, connection),
                event.ip,
                event.user_agent,
                event.request_id,
                event.trust_score,
                _JSON.get_db_prep_save(event.trust_factors, connection),
            ],
        )
        event.pk, event.seq, event.chain_seq, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias
    return event


_JSON = AuditEvent._meta.get_field("changes")
