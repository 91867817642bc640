"""Audit events as a reader wants them: changes as field / before / after instead of a Python
dict, and one row per admin edit. An edit in the admin writes two chained rows (the admin's
LogEntry and the model's own update, in the same request); both stay in the trail and in the
export, the page shows them as one row that carries the admin's message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from apps.dashboard.reports import label


@dataclass
class Change:
    field: str
    before: str
    after: str


@dataclass
class AuditRow:
    event: Any
    changes: list[Change] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (label, text)
    merged_seq: int | None = None  # the admin row shown within this one


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            return ", ".join(str(v) for v in value) or "none"
        return (
            "; ".join(f"{label(k)}: {_text(v)}" for k, v in value.items())
            if isinstance(value, dict)
            else (json.dumps(value, default=str)[:300])
        )
    return str(value)


def _describe(changes: dict[str, Any]) -> tuple[list[Change], list[tuple[str, str]]]:
    before, after = changes.get("before"), changes.get("after")
    rows: list[Change] = []
    notes: list[tuple[str, str]] = []
    if isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        rows = [Change(label(k), _text(before.get(k)) if before else "—", _text(v)) for k, v in after.items()]
    for key, value in changes.items():
        if key in ("before", "after") or value in (None, "", [], {}):
            continue
        notes.append((label(key), _text(value)))
    return rows, notes


def audit_rows(events: list[Any]) -> list[AuditRow]:
    rows = []
    for e in events:
        changes, notes = _describe(e.changes or {})
        rows.append(AuditRow(event=e, changes=changes, notes=notes))
    by_key = {
        (r.event.request_id, r.event.entity_type, str(r.event.entity_id)): r
        for r in rows
        if r.event.request_id and not r.event.event_type.startswith("admin.")
    }
    shown = []
    for row in rows:
        e = row.event
        twin = (
            by_key.get((e.request_id, e.entity_type, str(e.entity_id)))
            if e.event_type.startswith("admin.")
            else None
        )
        if twin is not None:
            message = (e.changes or {}).get("message")
            twin.notes.append(("In the admin", _text(message) if message else e.event_type))
            twin.merged_seq = e.seq
            continue
        shown.append(row)
    return shown
