"""The audit trail for organisation admins: a filtered page and a JSON-lines export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.core.paginator import Paginator
from django.http import (
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit.selectors import AuditFilters, audit_event_types, audit_list
from apps.audit.services import audit_record
from apps.dashboard.audit_rows import audit_rows
from apps.dashboard.rendering import forbidden
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest
from apps.users.trust import StepUpRequired, require_trust

if TYPE_CHECKING:
    from apps.audit.models import AuditEvent

PAGE_SIZE = 100
EXPORT_BATCH = 1000


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: AuthenticatedRequest) -> AuditFilters:
    return AuditFilters(
        event_type=request.GET.get("event_type", "").strip()[:64],
        actor=request.GET.get("actor", "").strip()[:254],
        since=_date(request.GET.get("since", "")),
        until=_date(request.GET.get("until", "")),
    )


@login_required
@require_GET
def audit_page(request: AuthenticatedRequest) -> HttpResponse:
    if not request.user.is_org_admin:
        return forbidden(request, "Only organisation admins can read the audit trail.")
    filters = _filters(request)
    page = Paginator(audit_list(user=request.user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboard/audit/list.html",
        {
            "page": page,
            "rows": audit_rows(list(page.object_list)),
            "filters": filters,
            "event_types": audit_event_types(),
            "query": query.urlencode(),
        },
    )


def _as_json(event: AuditEvent) -> dict[str, object]:
    return {
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "event_type": event.event_type,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "actor_id": event.actor_id,
        "actor": event.actor_label,
        "organization_id": event.organization_id,
        "changes": event.changes,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "trust_score": event.trust_score,
        "trust_factors": event.trust_factors,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


@login_required
@require_GET
def audit_export(request: AuthenticatedRequest) -> HttpResponse | StreamingHttpResponse:
    """Every matching event as JSON lines, oldest first (so the chain reads in order). A
    sensitive action: low-trust requests are sent to re-authenticate first."""
    if not request.user.is_org_admin:
        return forbidden(request, "Only organisation admins can export the audit trail.")
    try:
        require_trust(request)
    except StepUpRequired as exc:
        return HttpResponseRedirect(exc.step_up_url)
    filters = _filters(request)
    events = audit_list(user=request.user, filters=filters).order_by("seq")
    audit_record(
        event_type="audit.export",
        entity_type="audit",
        actor=request.user,
        changes={k: str(v) for k, v in filters.__dict__.items() if v},
        request=request,
    )

    def batch(after_seq: int) -> list[tuple[int, str]]:
        rows = events.filter(seq__gt=after_seq)[:EXPORT_BATCH]
        return [(row.seq, json.dumps(_as_json(row), sort_keys=True) + "\n") for row in rows]

    async def lines() -> AsyncIterator[str]:
        # Keyset batches, each read in a worker thread: the stream never holds the whole trail.
        after_seq = 0
        while rows := await sync_to_async(batch)(after_seq):
            for _, line in rows:
                yield line
            after_seq = rows[-1][0]

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="audit.jsonl"'
    response["Cache-Control"] = "no-store"
    return response
