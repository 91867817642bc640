"""Atomic artefact files: an upload is written to a local staging file first and moved into
storage (local files or S3) only when the transaction that records it commits.

- commit: the move runs ahead of every other after-commit callback (a step message sent on the
  same commit may start an agent that reads the file at once); on local storage it is a rename;
- rollback: Django drops the transaction's after-commit callbacks; the staged file is owned by
  that callback alone, so when it is dropped a finalizer deletes the file (no orphan, no wait);
- crash (process killed mid-request): the staged file stays behind in the staging directory,
  never in storage; `staging_sweep` deletes staging files older than AMAS_STAGING_MAX_AGE_SECONDS.
  Because a machine's staging directory is its own local disk, the sweep runs in each process
  that stages files (at most every few minutes) and in each worker's maintenance loop;
- storage unreachable at commit (S3 down), or a crash between commit and move: the artefact's
  transaction also wrote a PendingStore row naming the staged file and this host. The row goes
  once the file is in storage; until then the staged file is kept (the sweep skips it), the
  download answers 503 "file not yet stored", and `pending_stores_retry` (each worker's
  maintenance loop, and each staging process) moves it again with back-off (2 s doubling to
  AMAS_PENDING_STORE_MAX_BACKOFF_SECONDS).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

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


def publish_on_commit(
    staged: Staged, *, storage: Any, key: str, on_renamed: Any = None, artefact_id: Any = None
) -> None:
    """Move the staged file to `key` in `storage` once the current transaction commits (at once
    in autocommit). `on_renamed(new_key)` is called if the storage chose another name.

    With `artefact_id`, the move is durable: a PendingStore row is written in the current
    transaction and removed only when the file is in storage; a failed move keeps the staged
    file for `pending_stores_retry`."""
    from apps.knowledge.models import PendingStore

    if artefact_id is not None:
        PendingStore.objects.create(
            artefact_id=artefact_id,
            key=key,
            staged_path=str(staged.path),
            host=_host(),
            next_attempt_at=timezone.now(),
        )

    def publish() -> None:
        try:
            saved = _move(staged.path, storage, key)
        except Exception as exc:  # storage unreachable: the row and the staged file stay
            if artefact_id is None:
                raise
            owner.detach()  # keep the staged file for the retry
            log.warning("Artefact %s: its file could not be stored (%s); will retry", artefact_id, exc)
            with contextlib.suppress(Exception):  # Postgres away too: the row is due already
                _pending_failed(PendingStore.objects.filter(artefact_id=artefact_id), 1, exc)
            return
        if saved != key and on_renamed is not None:
            on_renamed(saved)
        if artefact_id is not None:
            with contextlib.suppress(Exception):  # left behind: the retry finds the file stored
                PendingStore.objects.filter(artefact_id=artefact_id).delete()

    # The callback is the only owner of the staged file: when a rollback drops it, the file goes.
    owner = weakref.finalize(publish, _discard, str(staged.path))
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        publish()
        return
    transaction.on_commit(publish)
    # Ahead of the transaction's other callbacks (the task outbox sends step messages): an agent
    # must find the file in storage. Same tuple as Django's on_commit appends.
    connection.run_on_commit.insert(0, connection.run_on_commit.pop())


def _host() -> str:
    return socket.gethostname()


def _move(path: Path, storage: Any, key: str) -> str:
    with _StagedFile(path) as content:
        saved = storage.save(key, content)
    _discard(str(path))  # gone already when the storage renamed it
    return saved


def _pending_failed(rows: Any, attempts: int, exc: Exception) -> None:
    backoff = min(settings.AMAS_PENDING_STORE_MAX_BACKOFF_SECONDS, 2.0**attempts)
    rows.update(
        attempts=attempts,
        next_attempt_at=timezone.now() + timedelta(seconds=backoff),
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
    )


def pending_stores_retry(*, limit: int = 20) -> int:
    """Move the files of this host's due PendingStore rows into storage; returns how many are now
    stored. Each row is locked (SKIP LOCKED) while its file moves, so two processes on the host
    never move the same file."""
    from apps.knowledge.models import Artefact, PendingStore

    due = list(
        PendingStore.objects.filter(host=_host(), next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    stored = 0
    for pk in due:
        with transaction.atomic():
            row = PendingStore.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if row is None:
                continue  # another process has it, or it is done
            artefact = Artefact.objects.get(pk=row.artefact_id)
            storage, path = artefact.file.storage, Path(row.staged_path)
            try:
                if not path.exists() and storage.exists(row.key):
                    saved = row.key  # moved before, only the row's delete was lost
                elif not path.exists():
                    raise FileNotFoundError(f"staged file {path} is gone and {row.key} is not in storage")
                else:
                    saved = _move(path, storage, row.key)
            except Exception as exc:
                attempt = row.attempts + 1
                log.warning("Artefact %s: storing failed (try %d): %s", row.artefact_id, attempt, exc)
                _pending_failed(PendingStore.objects.filter(pk=pk), attempt, exc)
                continue
            if saved != artefact.file.name:
                Artefact.objects.filter(pk=artefact.pk).update(file=saved)
            row.delete()
            log.info("Artefact %s: file stored after %d failed attempt(s)", row.artefact_id, row.attempts)
            stored += 1
    return stored


def staging_maintain() -> None:
    """A worker's periodic pass (amas/celery.py): retry due moves, then sweep stale staging files."""
    pending_stores_retry()
    staging_sweep()


def staging_sweep(*, max_age: float | None = None) -> int:
    """Delete staging files older than `max_age` seconds (left by a killed process)."""
    max_age = settings.AMAS_STAGING_MAX_AGE_SECONDS if max_age is None else max_age
    from apps.knowledge.models import PendingStore

    cutoff = time.time() - max_age
    removed = 0
    pending = set(PendingStore.objects.values_list("staged_path", flat=True))
    for path in staging_dir().iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < cutoff and str(path) not in pending:
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
            # No storage calls inside a request's transaction.
            if not transaction.get_connection().in_atomic_block:
                pending_stores_retry()
            staging_sweep()
        except Exception:  # never fail an upload over the housekeeping
            log.warning("Staging sweep failed", exc_info=True)
