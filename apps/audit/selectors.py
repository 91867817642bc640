"""Reading the audit trail: the org admin's filtered list and the chain verification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.audit.models import GENESIS_HASH, AuditEvent
from apps.core.exceptions import PermissionDenied

if TYPE_CHECKING:  # for annotations only: audit sits below users and imports none of it at run time
    from apps.users.models import User


@dataclass(frozen=True)
class AuditFilters:
    event_type: str = ""
    actor: str = ""  # e-mail (or part of it) or user id
    since: date | None = None
    until: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_list(*, user: User, filters: AuditFilters | None = None) -> QuerySet[AuditEvent]:
    """Events an org admin may read: their organisation's (a superuser's: all), newest first."""
    if not user.is_authenticated or not user.is_org_admin:
        raise PermissionDenied("Only organisation admins can read the audit trail.")
    qs = AuditEvent.objects.all()
    if not user.is_superuser:
        # An admin outside any organisation reads the rows outside any (what `exact=None` means).
        org = user.organization_id
        qs = qs.filter(organization_id=org) if org is not None else qs.filter(organization__isnull=True)
    filters = filters or AuditFilters()
    if filters.event_type:
        qs = qs.filter(event_type__startswith=filters.event_type)
    if filters.actor:
        actor = filters.actor.strip()
        match = Q(actor_label__icontains=actor)
        if actor.isdigit():
            match |= Q(actor_id=int(actor))
        qs = qs.filter(match)
    if filters.since:
        qs = qs.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        qs = qs.filter(created_at__lt=_day_start(filters.until) + timedelta(days=1))
    return qs.order_by("-seq")


def audit_event_types() -> list[str]:
    return list(AuditEvent.objects.order_by("event_type").values_list("event_type", flat=True).distinct())


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"row seq={self.seq}" + (f" (id={self.event_id})" if self.event_id is not None else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _rows() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)


def audit_chain_verify() -> ChainReport:
    """Walks the chain in seq order and returns the first row that does not follow from its
    predecessor: edited or moved (its hash no longer matches its content, which includes its seq
    and its predecessor's hash), or deleted (a seq is missing, or the next row's prev_hash points
    at a row that is no longer there)."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in _rows():
        if row.seq > expected_seq:
            missing = (
                f"seq {expected_seq}" if row.seq == expected_seq + 1 else f"seq {expected_seq}-{row.seq - 1}"
            )
            reason = f"row {missing} was deleted (the chain resumes at seq {row.seq}, id={row.pk})"
            return ChainReport(checked, prev_hash, ChainBreak(expected_seq, None, reason))
        if row.seq < expected_seq:  # only possible if the unique constraint was dropped
            reason = f"duplicate sequence number (expected {expected_seq})"
            return ChainReport(checked, prev_hash, ChainBreak(row.seq, row.pk, reason))
        if row.compute_hash() != row.hash:
            reason = "row was edited or moved: its content no longer matches its hash"
            return ChainReport(checked, prev_hash, ChainBreak(row.seq, row.pk, reason))
        if row.prev_hash != prev_hash:
            reason = (
                f"the row before it (seq {row.seq - 1}) was deleted or replaced: prev_hash does not match"
            )
            return ChainReport(checked, prev_hash, ChainBreak(row.seq, row.pk, reason))
        prev_hash = row.hash
        expected_seq += 1
        checked += 1
    return ChainReport(checked, prev_hash, None)
