"""What a router call writes after it has its answer, written behind it by one thread per process.

A routed call used to wait for two writes after the vendor answered: the outcome script (EWMA
stats, the circuit's consecutive-failure reset, the tpm bucket's refund) and the ledger INSERT.
The caller needs neither reply, so a call outside a transaction hands them to this process's
writer thread and returns; the writer sends whatever has queued up as one Redis pipeline and one
multi-row INSERT (synchronous_commit off, as before), so under load the writes batch themselves.

What stays on the caller's path (see router.py): the admission script (circuit, rate limits,
configuration version), budget reservations, every outcome that opens or closes a circuit
(failures, half-open probes) or that adds spend to a budget counter, and ledger rows of calls
inside a caller's transaction (the transaction decides about them; another connection could not
see its uncommitted task rows anyway).

Bounds: at most MAX_PENDING items wait per process; past that the caller writes its own (so a
writer that cannot keep up slows callers down rather than growing). On SIGKILL or a power cut of
the process, the items still queued are lost: the ledger rows and stats samples of the calls that
returned in the last moments (at most MAX_PENDING, in practice the last LINGER_SECONDS); they
were free calls or refunds, never unrecorded spend. A normal exit (atexit, a Celery child's
shutdown) flushes first. Readers of the ledger in this process call flush() first (step
attribution, spend per step, budget rebuilds); other processes see a row within milliseconds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("amas.providers")

MAX_PENDING = 256  # items queued per process before callers write their own
_BATCH = 500  # items per write
# How long the writer lets ledger rows gather after the first one arrives (not outcome scripts):
# a drain's or a busy worker's calls then share one INSERT (a one-row INSERT costs ~4x a row of a
# 10-row one).
# flush() cuts it short; it does not widen what a SIGKILL loses (still at most MAX_PENDING items).
LINGER_SECONDS = 0.02
_RETRY_SECONDS = (0.05, 0.2, 1.0)  # a failed write is retried, then logged and dropped


class _Writer:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cond = threading.Condition()
        self.rows: list[dict[str, Any]] = []
        self.outcomes: list[tuple[Any, list[Any], list[Any]]] = []  # (script, keys, args)
        self.busy = 0  # items taken by the thread and not written yet
        self.stopping = False
        self.idle = False  # the thread waits for a first item (only then does put() wake it)
        self.urgent = 0  # flush() calls waiting: no lingering
        self.thread = threading.Thread(target=self._run, name="amas-provider-bookkeeping", daemon=True)
        self.thread.start()

    def pending(self) -> int:
        return len(self.rows) + len(self.outcomes) + self.busy

    def put(
        self, *, row: dict[str, Any] | None = None, outcome: tuple[Any, list[Any], list[Any]] | None = None
    ) -> bool:
        """Queue an item; False when the queue is full (the caller writes it itself)."""
        with self.cond:
            if self.pending() >= MAX_PENDING:
                return False
            if row is not None:
                self.rows.append(row)
            if outcome is not None:
                self.outcomes.append(outcome)
            if self.idle or outcome is not None or len(self.rows) >= _BATCH:  # outcomes: no linger
                self.cond.notify_all()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before this call is written (or given up on)."""
        if threading.current_thread() is self.thread:
            return True
        deadline = time.monotonic() + timeout
        with self.cond:
            self.urgent += 1
            self.cond.notify_all()  # a lingering writer writes now
            try:
                while self.pending():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self.cond.wait(left)
            finally:
                self.urgent -= 1
        return True

    def stop(self) -> None:
        """Write what is queued, then end the thread (it closes its database connection)."""
        self.flush()
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=5.0)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            from django.db import connection

            with contextlib.suppress(Exception):
                connection.close()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.rows and not self.outcomes:
                    if self.stopping:
                        return
                    self.idle = True
                    self.cond.wait()
                self.idle = False
                linger_until = time.monotonic() + LINGER_SECONDS
                # Outcome scripts are not held back: other processes read what they change (a
                # budget counter's refund, the circuit's failure count) as soon as it is written.
                while not (self.stopping or self.urgent or self.outcomes) and len(self.rows) < _BATCH:
                    left = linger_until - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                rows, self.rows = self.rows[:_BATCH], self.rows[_BATCH:]
                outcomes, self.outcomes = self.outcomes[:_BATCH], self.outcomes[_BATCH:]
                self.busy = len(rows) + len(outcomes)
            try:
                if outcomes:
                    _retrying("outcome scripts", _send_outcomes, outcomes)
                if rows:
                    _retrying("ledger rows", _insert_rows, rows)
                    if not self.rows:  # idle: Django's rule, as at the end of a request
                        _release_connection()
            finally:
                with self.cond:
                    self.busy = 0
                    self.cond.notify_all()


def _retrying(what: str, write: Callable[[list[Any]], None], items: list[Any]) -> None:
    for wait in (*_RETRY_SECONDS, None):
        try:
            write(items)
            return
        except Exception:  # a lost connection, a restarting server: try again, then report
            if wait is None:
                log.exception(
                    "provider bookkeeping: %d %s could not be written and are dropped", len(items), what
                )
                return
            _reset_connections()
            time.sleep(wait)


def _release_connection() -> None:
    """CONN_MAX_AGE 0 closes the connection (a pool takes it back), a longer one keeps it."""
    from django.db import connection

    with contextlib.suppress(Exception):
        connection.close_if_unusable_or_obsolete()


def _reset_connections() -> None:
    from django.db import connection

    with contextlib.suppress(Exception):  # closing a broken connection may fail; the next use reconnects
        connection.close()


def _send_outcomes(outcomes: list[tuple[Any, list[Any], list[Any]]]) -> None:
    """One pipeline of EVALSHAs (redis-py's script-in-pipeline would ask SCRIPT EXISTS first: one
    more round trip every time); a script the server does not know yet is run on its own."""
    from redis.exceptions import NoScriptError

    from apps.providers import redis_client

    pipe = redis_client.client().pipeline(transaction=False)
    for script, keys, args in outcomes:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    results = pipe.execute(raise_on_error=False)
    for (script, keys, args), result in zip(outcomes, results, strict=True):
        if isinstance(result, NoScriptError):
            script(keys=keys, args=args)
        elif isinstance(result, Exception):
            raise result


def _insert_rows(rows: list[dict[str, Any]]) -> None:
    from apps.providers.services import provider_calls_insert

    provider_calls_insert(rows)


_writer: _Writer | None = None
_lock = threading.Lock()


def _current(start: bool) -> _Writer | None:
    """This process's writer (a new one after a fork: threads do not survive it)."""
    global _writer
    writer = _writer
    if writer is not None and writer.pid == os.getpid():
        return writer
    if not start:
        return None
    with _lock:
        if _writer is None or _writer.pid != os.getpid():
            _writer = _Writer()
        return _writer


def enabled() -> bool:
    from django.conf import settings

    return bool(settings.AMAS_PROVIDER_BOOKKEEPING_BEHIND)


def defer_row(row: dict[str, Any]) -> bool:
    """Queue a ledger row (the keyword arguments of services.provider_calls_insert's rows);
    False: write it yourself (queue full or writing behind switched off)."""
    return enabled() and _current(start=True).put(row=row)  # type: ignore[union-attr]


def defer_outcome(script: Any, keys: list[Any], args: list[Any]) -> bool:
    """Queue an outcome script run; False: run it yourself."""
    return enabled() and _current(start=True).put(outcome=(script, keys, args))  # type: ignore[union-attr]


def flush(timeout: float = 10.0) -> bool:
    """Write what this process queued so far before reading the ledger or the stats it feeds."""
    writer = _current(start=False)
    return True if writer is None else writer.flush(timeout)


def pending() -> int:
    writer = _current(start=False)
    return 0 if writer is None else writer.pending()


def stop() -> None:
    """Write what this process queued and end its writer (exit, a Celery child's shutdown, the end
    of a test session); a later call starts a new one."""
    global _writer
    writer = _current(start=False)
    if writer is not None:
        writer.stop()
        with _lock:
            if _writer is writer:
                _writer = None


def on_shutdown(**_: Any) -> None:
    stop()


atexit.register(stop)
