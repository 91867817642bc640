"""Text for the search index: what of a task, a result or an artefact is searchable, cut into
overlapping passages of AMAS_CHUNK_SIZE characters (AMAS_CHUNK_OVERLAP shared between
neighbours, so a sentence cut at a boundary is whole in one of them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_BREAKS = ("\n\n", "\n", ". ", "; ", ", ", " ")


def chunk_text(text: str, *, size: int, overlap: int) -> list[str]:
    """Passages of at most `size` characters, each starting `overlap` characters before the
    previous one ended, cut at the strongest break (paragraph, line, sentence, word) found in the
    last third of the window."""
    if size <= 0:
        raise ValueError("size must be positive")
    overlap = max(0, min(overlap, size // 2))
    text = re.sub(r"[ \t]+", " ", text.replace("\r\n", "\n")).strip()
    if not text:
        return []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[start:end]
            for brk in _BREAKS:
                cut = window.rfind(brk, size * 2 // 3)
                if cut != -1:
                    end = start + cut + len(brk)
                    break
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        next_start = max(end - overlap, start + 1)
        if overlap:
            # Start the overlap on a word boundary so no passage begins mid-word.
            space = text.find(" ", next_start, end)
            if space != -1:
                next_start = space + 1
        start = next_start
    return chunks


def _strings(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, str):
        value = value.strip()
        if value:
            yield f"{path}: {value}" if path else value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, path)


def result_text(*, summary: str, data: dict[str, Any]) -> str:
    """A result's searchable text: its summary, then every string field of its data labelled with
    its key path ("findings.title: open port"). Numbers and booleans are left to filters."""
    parts = [summary.strip()] if summary and summary.strip() else []
    parts.extend(_strings(data))
    return "\n".join(parts)


def task_text(*, title: str, description: str, target: str) -> str:
    parts = [title.strip(), target.strip(), description.strip()]
    return "\n".join(p for p in parts if p)


TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-ndjson", "application/csv")


def is_text_artefact(detected_type: str, content_type: str = "") -> bool:
    kind = (detected_type or content_type or "").lower()
    return kind.startswith(TEXT_TYPES)


def decode_text(raw: bytes) -> str:
    """Bytes of a text artefact as text; undecodable bytes become U+FFFD, NULs are dropped
    (Postgres text cannot hold them)."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "")
