"""Search hits as a reader wants them: grouped by task (best task first), with totals, pages of
tasks, and the indexer's field paths (`documents.key_points.quotes.text: ...`) turned into
labels ("Key points › quotes: ...")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# A flattened JSON path the chunker writes before a value: two or more dotted identifiers and a
# colon, at the start of the passage or of a line (the highlight keeps the text as it was).
FIELD_PATH = re.compile(r"(?m)(?:^|(?<=… )|(?<=\.\.\. ))([A-Za-z_]\w*(?:\.\w+)+):\s")
# Path parts that name a container or a value, not a meaning.
GENERIC = frozenset({"text", "value", "values", "items", "data", "documents", "tables", "results", "content"})


def field_label(path: str) -> str:
    parts = [p for p in path.split(".") if p not in GENERIC and not p.isdigit()] or path.split(".")[-1:]
    words = [p.replace("_", " ") for p in parts[-2:]]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " › ".join(words)


def humanise_paths(text: str) -> str:
    return FIELD_PATH.sub(lambda m: f"{field_label(m.group(1))}: ", text)


@dataclass
class TaskGroup:
    task_id: str
    task_title: str
    task_type: str
    classification: str
    task_url: str
    best_score: float
    hits: list[dict[str, Any]] = field(default_factory=list)


def group_by_task(hits: list[dict[str, Any]]) -> list[TaskGroup]:
    """Hits arrive best first; a task's place is that of its best hit."""
    groups: dict[str, TaskGroup] = {}
    for hit in hits:
        hit = {
            **hit,
            "highlight": humanise_paths(hit["highlight"]),
            "passage": humanise_paths(hit["passage"]),
        }
        group = groups.get(hit["task_id"])
        if group is None:
            group = groups[hit["task_id"]] = TaskGroup(
                task_id=hit["task_id"],
                task_title=hit["task_title"],
                task_type=hit["task_type"],
                classification=hit["classification"],
                task_url=hit["task_url"],
                best_score=hit["score"],
            )
        group.hits.append(hit)
    return list(groups.values())
