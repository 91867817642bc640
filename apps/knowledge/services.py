"""Artefacts: files attached to a task by a user or written by an agent. Stored through Django's
storage API only (local files by default, S3 when configured); the storage key is ours, the
uploaded name is only metadata."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction

from apps.core.exceptions import PayloadTooLarge
from apps.knowledge import staging
from apps.knowledge.models import Artefact

CHUNK_BYTES = 1024 * 1024


def artefact_check_limits(files: Iterable[Any]) -> None:
    """Refuse an upload over the configured limits before anything is stored. `files` are Django
    uploaded files (anything with `.size` and `.name`)."""
    files = list(files)
    max_files = settings.AMAS_MAX_FILES_PER_TASK
    max_file = settings.AMAS_MAX_FILE_BYTES
    max_total = settings.AMAS_MAX_TOTAL_BYTES
    if len(files) > max_files:
        raise PayloadTooLarge(
            f"Too many files: {len(files)} (at most {max_files} per task).",
            extra={"limit": "files_per_task", "max": max_files, "got": len(files)},
        )
    total = 0
    for file in files:
        size = _size_of(file)
        if size > max_file:
            raise PayloadTooLarge(
                f"File {safe_filename(file.name)!r} is {size} bytes (at most {max_file}).",
                extra={"limit": "file_bytes", "max": max_file, "got": size},
            )
        total += size
    if total > max_total:
        raise PayloadTooLarge(
            f"The files add up to {total} bytes (at most {max_total} per task).",
            extra={"limit": "total_bytes", "max": max_total, "got": total},
        )


def artefact_create(
    *,
    task,  # apps.tasks.models.Task
    file: File,
    uploaded_by=None,
    step=None,
    produced_by_agent: str = "",
) -> Artefact:
    """Store a file through Django's storage API (local files, or S3 when configured), hashing it
    while it streams in chunks so large files are never held in memory whole. The file reaches
    storage only when the surrounding transaction commits (apps/knowledge/staging.py): a rolled
    back request or a killed process leaves nothing in storage."""
    staged = staging.stage(file)
    name = safe_filename(file.name)
    artefact = Artefact(
        organization_id=task.organization_id,
        task=task,
        step=step,
        original_name=name,
        size=staged.size,
        sha256=staged.sha256,
        detected_type=detect_type(staged.head),
        content_type=(getattr(file, "content_type", "") or "")[:100],
        produced_by_agent=produced_by_agent,
        uploaded_by=uploaded_by,
    )
    artefact.file.name = artefact.file.field.generate_filename(artefact, name)
    with transaction.atomic():
        artefact.save()
        artefact_id = artefact.pk
        staging.publish_on_commit(
            staged,
            storage=artefact.file.storage,
            key=artefact.file.name,
            on_renamed=lambda saved: Artefact.objects.filter(pk=artefact_id).update(file=saved),
            artefact_id=artefact_id,  # durable: retried if storage is unreachable at commit
        )
    return artefact


def artefact_delete(*, artefact: Artefact) -> None:
    """Delete the row and its stored file (the file after commit, so a rollback keeps both)."""
    storage, key = artefact.file.storage, artefact.file.name
    artefact.delete()
    if key:
        transaction.on_commit(lambda: storage.delete(key))


def artefact_delete_produced_by_step(*, step) -> int:  # apps.tasks.models.TaskStep
    """A re-delivered step starts clean: drop what an earlier attempt of it wrote."""
    count = 0
    for artefact in list(Artefact.objects.filter(step=step).exclude(produced_by_agent="")):
        artefact_delete(artefact=artefact)
        count += 1
    return count


def artefact_iter_chunks(artefact: Artefact, *, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with artefact.file.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk


def artefact_read(artefact: Artefact, *, limit: int | None = None) -> bytes:
    """The artefact's bytes, at most `limit` of them (default: the upload limit), read in chunks."""
    limit = settings.AMAS_MAX_FILE_BYTES if limit is None else limit
    parts: list[bytes] = []
    total = 0
    for chunk in artefact_iter_chunks(artefact):
        parts.append(chunk[: limit - total])
        total += len(parts[-1])
        if total >= limit:
            break
    return b"".join(parts)


_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_filename(name: str | None, *, default: str = "upload") -> str:
    """A display name that can never act as a path: last path component only, no control or
    separator characters, no leading dots, at most 255 characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_CHARS.sub("_", name).strip().lstrip(".")
    if not name:
        return default
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _size_of(file: Any) -> int:
    size = getattr(file, "size", None)
    if size is None:
        pos = file.tell()
        file.seek(0, 2)
        size = file.tell()
        file.seek(pos)
    return int(size)


_MAGIC = [
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"MZ", "application/x-dosexec"),
    (b"\x7fELF", "application/x-elf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xd0\xcf\x11\xe0", "application/x-ole-storage"),
]


def detect_type(head: bytes) -> str:
    """Type from magic bytes, never from the extension (the forensics agent refines this)."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 4 KiB head is still text.
        if exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            return "application/octet-stream"
    return "text/plain"
