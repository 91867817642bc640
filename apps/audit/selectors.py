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


def _legacy_rows() -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(chain__isnull=True).order_by("seq").iterator(chunk_size=2000)


def _chain_rows(chain: int) -> Iterator[AuditEvent]:
    # In seq order, not chain_seq order: a row moved by renumbering its seq then shows up
    # out of place and fails its hash, as it does in the legacy chain.
    return AuditEvent.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)


def _legacy_verify() -> ChainReport:
    """The single global chain of rows written before per-organisation chains: gapless seq."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in _legacy_rows():
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


def _deleted(chain: int, missing: range, before_seq: int, row: AuditEvent) -> ChainBreak:
    """Name the deleted rows by seq when the numbers absent between their neighbours say which
    (a sequence value can also be absent because its transaction rolled back)."""
    present = set(
        AuditEvent.objects.filter(seq__gt=before_seq, seq__lt=row.seq).values_list("seq", flat=True)
    )
    absent = [n for n in range(before_seq + 1, row.seq) if n not in present]
    where = f"position {missing.start}" + (f"-{missing.stop - 1}" if len(missing) > 1 else "")
    named = (
        f"row seq {absent[0]}"
        if len(absent) == len(missing) == 1
        else f"a row between seq {before_seq} and {row.seq}"
    )
    reason = f"{named} was deleted ({where} of chain {chain}; it resumes at seq {row.seq}, id={row.pk})"
    return ChainBreak(absent[0] if absent else row.seq, None, reason)


def _chain_verify(chain: int) -> ChainReport:
    """One organisation's chain: gapless chain_seq, each row's hash over its content (seq,
    chain and position included) and its predecessor's hash."""
    expected, prev_hash, prev_seq, checked = 1, GENESIS_HASH, 0, 0
    for row in _chain_rows(chain):
        if row.compute_hash() != row.hash:
            reason = "row was edited or moved: its content no longer matches its hash"
            return ChainReport(checked, prev_hash, ChainBreak(row.seq, row.pk, reason))
        if row.chain_seq is None or row.chain_seq < expected:
            reason = f"duplicate or missing chain position (expected {expected} in chain {chain})"
            return ChainReport(checked, prev_hash, ChainBreak(row.seq, row.pk, reason))
        if row.chain_seq > expected:
            return ChainReport(
                checked, prev_hash, _deleted(chain, range(expected, row.chain_seq), prev_seq, row)
            )
        if row.prev_hash != prev_hash:
            reason = "the row before it in its chain was deleted or replaced: prev_hash does not match"
            return ChainReport(checked, prev_hash, ChainBreak(row.seq, row.pk, reason))
        prev_hash, prev_seq = row.hash, row.seq
        expected += 1
        checked += 1
    return ChainReport(checked, prev_hash, None)


def audit_chain_verify() -> ChainReport:
    """Walks every chain and returns the first row that does not follow from its predecessor:
    edited or moved (its hash no longer matches its content, which includes its seq, its chain
    position and its predecessor's hash), or deleted (a position is missing, or the next row's
    prev_hash points at a row that is no longer there). `head_hash` is the last chain's head;
    `checked` counts the rows of every chain verified."""
    report = _legacy_verify()
    checked = report.checked
    if not report.ok:
        return report
    chained = AuditEvent.objects.filter(chain__isnull=False)
    latest = chained.order_by("-seq").values_list("chain", flat=True).first()
    head = report.head_hash
    chains: list[int] = [
        c for c in chained.order_by("chain").values_list("chain", flat=True).distinct() if c is not None
    ]
    for chain in chains:
        report = _chain_verify(chain)
        if not report.ok:
            return ChainReport(checked + report.checked, report.head_hash, report.first_break)
        checked += report.checked
        if chain == latest:  # the head of the chain written last
            head = report.head_hash
    return ChainReport(checked, head, None)
