"""How events, results and search hits read on a page. `event_detail` must say what
static/js/amas.js `describe()` says, so a server-rendered timeline and a live one look the same."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from apps.knowledge.search import SearchHit

SEVERITIES = ("critical", "high", "medium", "low", "info")
MAX_ROWS = 200
MAX_COLUMNS = 8


def event_detail(type: str, payload: dict[str, Any]) -> str:
    p = payload or {}
    parts: list[str] = []
    if p.get("title"):
        parts.append(str(p["title"]))
    if p.get("agent"):
        parts.append(str(p["agent"]))
    if type == "step.progress" and p.get("progress") is not None:
        parts.append(f"{p['progress']}%")
    if p.get("message"):
        parts.append(str(p["message"]))
    if p.get("retry") is not None:
        parts.append(f"retry #{p['retry']}")
    if p.get("retry_in_seconds") is not None:
        parts.append(f"retry in {_js_number(p['retry_in_seconds'])} s")
    if p.get("reason"):
        parts.append(str(p["reason"]))
    if isinstance(p.get("summary"), str) and p["summary"]:
        parts.append(p["summary"])
    if p.get("error"):
        parts.append(f"error: {p['error']}")
    if p.get("by"):
        parts.append(f"by {p['by']}")
    return " · ".join(parts)


def _js_number(value: Any) -> str:
    """Numbers as JavaScript prints them (2.0 -> "2")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class EventRow:
    seq: int
    type: str
    created_at: Any
    detail: str
    task_id: str
    task_title: str = ""


def event_rows(events: list[Any], *, with_title: bool = False) -> list[EventRow]:
    return [
        EventRow(
            seq=e.seq,
            type=e.type,
            created_at=e.created_at,
            detail=event_detail(e.type, e.payload),
            task_id=str(e.task_id),
            task_title=e.task.title if with_title else "",
        )
        for e in events
    ]


# ------------------------------------------------------------------------------- results


@dataclass
class Cell:
    text: str
    css: str = ""


@dataclass
class Block:
    kind: str  # table | kv | list | bars | text
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    items: list[tuple[str, Any]] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    max_value: float = 0
    truncated: int = 0
    text: str = ""


def _label(key: str) -> str:
    return str(key).replace("_", " ").strip().capitalize()


def _scalar_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)[:500]
    return str(value)


def severity_class(value: Any) -> str:
    text = str(value).lower()
    return f"badge sev-{text}" if text in SEVERITIES else ""


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _table(title: str, items: list[dict[str, Any]]) -> Block:
    columns: list[str] = []
    for item in items:
        for key in item:
            if key not in columns:
                columns.append(key)
    # Severity first, where findings have one: it is what the reader scans for.
    if "severity" in columns:
        columns.remove("severity")
        columns.insert(0, "severity")
    columns = columns[:MAX_COLUMNS]
    rows = []
    for item in items[:MAX_ROWS]:
        row = []
        for column in columns:
            value = item.get(column)
            css = severity_class(value) if column == "severity" else ""
            row.append(Cell(text=_scalar_text(value), css=css))
        rows.append(row)
    return Block(
        kind="table",
        title=title,
        columns=[_label(c) for c in columns],
        rows=rows,
        truncated=max(0, len(items) - MAX_ROWS),
    )


def result_blocks(data: dict[str, Any]) -> list[Block]:
    """A result's data as readable blocks: lists of records become tables (findings with
    severity colours), numeric mappings become bars, scalars gather in one key-value block."""
    if not isinstance(data, dict):
        return [Block(kind="text", title="Data", text=_scalar_text(data))]
    scalars: list[tuple[str, Any]] = []
    blocks: list[Block] = []
    for key, value in data.items():
        title = _label(key)
        if _is_scalar(value):
            scalars.append((title, _scalar_text(value)))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            blocks.append(_table(title, value))
        elif isinstance(value, list) and all(_is_scalar(v) for v in value):
            if value:
                blocks.append(
                    Block(
                        kind="list",
                        title=title,
                        values=[_scalar_text(v) for v in value[:MAX_ROWS]],
                        truncated=max(0, len(value) - MAX_ROWS),
                    )
                )
            else:
                scalars.append((title, "none"))
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())
        ):
            items = sorted(value.items(), key=lambda kv: -kv[1])[:MAX_ROWS]
            blocks.append(
                Block(
                    kind="bars",
                    title=title,
                    items=[(str(k), v) for k, v in items],
                    max_value=max((v for _, v in items), default=0) or 1,
                )
            )
        elif isinstance(value, dict):
            blocks.append(
                Block(kind="kv", title=title, items=[(_label(k), _scalar_text(v)) for k, v in value.items()])
            )
        else:
            scalars.append((title, _scalar_text(value)))
    if scalars:
        blocks.insert(0, Block(kind="kv", title="Details", items=scalars))
    return blocks


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)


def search_hit_links(hit: SearchHit) -> dict[str, str | None]:
    """Where a search hit leads: its task's page, the result on it, and the task in the API (the
    same links the search API returns)."""
    task_url = reverse("task_detail", args=[hit.task_id])
    return {
        "task_url": task_url,
        "result_url": f"{task_url}#result-{hit.result_id}" if hit.result_id else None,
        "api_url": reverse("api:get_task", args=[hit.task_id]),
    }
