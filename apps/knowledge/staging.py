"""Atomic artefact files: an upload is written to a local staging file first and moved into
storage (local files or S3) only when the transaction that records it commits.

- commit: the move runs ahead of every other after-commit callback (a step message sent on the
  same commit may start an agent that reads the file at once); on local storage it is a rename;
- rollback: Django drops the transaction's after-commit callbacks; the staged file is owned by
  that callback alone, so when it is dropped a finalizer deletes the file (no orphan, no wait);
- crash (process killed mid-request): the staged file stays behind in the staging directory,
  never in storage; `staging_sweep` deletes staging files older than AMAS_STAGING_MAX_AGE_SECONDS.
  It runs from the maintenance queue (beat) and, because a web machine's staging directory is its
  own local disk, from each process that stages files, at most every few minutes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 300.0
_last_sweep = 0.0


def staging_dir() -> Path:
    path = Path(settings.AMAS_STAGING_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Staged:
    path: Path
    size: int
    sha256: str
    head: bytes  # the first 4 KiB, for type detection


class _StagedFile(File):
    """A staged file as Django storage wants it: FileSystemStorage moves (renames) a file that
    has a temporary_file_path instead of copying it; S3 storage streams it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.open("rb"), name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def stage(file: Any, *, chunk_size: int = 1024 * 1024) -> Staged:
    """Copy an uploaded (or agent-written) file into the staging directory, hashing it in chunks
    so a large file is never held in memory whole."""
    _maybe_sweep()
    digest = hashlib.sha256()
    size = 0
    head = b""
    handle = tempfile.NamedTemporaryFile(dir=staging_dir(), prefix="upload-", delete=False)  # noqa: SIM115
    try:
        with handle:
            chunks = (
                file.chunks(chunk_size)
                if hasattr(file, "chunks")
                else iter(lambda: file.read(chunk_size), b"")
            )
            for chunk in chunks:
                if len(head) < 4096:
                    head += chunk[: 4096 - len(head)]
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Staged(Path(handle.name), size, digest.hexdigest(), head)


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def publish_on_commit(staged: Staged, *, storage: Any, key: str, on_renamed: Any = None) -> None:
    """Move the staged file to `key` in `storage` once the current transaction commits (at once
    in autocommit). `on_renamed(new_key)` is called if the storage chose another name."""

    def publish() -> None:
        with _StagedFile(staged.path) as content:
            saved = storage.save(key, content)
        _discard(str(staged.path))  # gone already when the storage renamed it
        if saved != key and on_renamed is not None:
            on_renamed(saved)

    # The callback is the only owner of the staged file: when a rollback drops it, the file goes.
    weakref.finalize(publish, _discard, str(staged.path))
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        publish()
        return
    transaction.on_commit(publish)
    # Ahead of the transaction's other callbacks (the task outbox sends step messages): an agent
    # must find the file in storage. Same tuple as Django's on_commit appends.
    connection.run_on_commit.insert(0, connection.run_on_commit.pop())


def staging_sweep(*, max_age: float | None = None) -> int:
    """Delete staging files older than `max_age` seconds (left by a killed process)."""
    max_age = settings.AMAS_STAGING_MAX_AGE_SECONDS if max_age is None else max_age
    cutoff = time.time() - max_age
    removed = 0
    for path in staging_dir().iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        log.info("Removed %d stale staging file(s) from %s", removed, staging_dir())
    return removed


def _maybe_sweep() -> None:
    global _last_sweep
    now = time.monotonic()
    if now - _last_sweep >= SWEEP_EVERY_SECONDS:
        _last_sweep = now
        try:
            staging_sweep()
        except OSError:
            log.warning("Staging sweep failed", exc_info=True)
