"""Configuration rows read on every task, kept in process memory and dropped exactly when any
process changes them.

Every task submission and every task event asked Postgres the same questions: which event sinks
and webhook endpoints does this organisation have, which agent configs and decision settings
exist. The answers change only when an admin edits them. Each process keeps them in memory
(`ConfigCache`), tagged with the value of one Redis counter, the configuration version. Saving or
deleting one of those rows bumps the counter after its transaction commits (`config_changed`, a
post_save/post_delete receiver connected by the owning app); a reader compares the counter with
its entry's tag and reloads on a mismatch. One Redis GET per question (or one per block under
`config_version_pinned()`) replaces a query, and a change is seen by every process's next read.

Why bump after commit: a reader that saw the new version then reads the committed rows; one that
saw the old version may cache the old rows under the old tag, which the next read finds stale.
A transaction that changes configuration reads around the cache until it ends (`_dirty`).
Bounds, so that nothing can keep serving a deleted sink for long: if Redis cannot be read, no
entry is used (every read goes to Postgres); if a bump is lost (Redis down at that moment) the
process that made the change drops its own entries at once and the others at the latest after
`MAX_AGE` seconds. The counter starts at a random 62-bit value when the key is missing (a flushed
Redis), so a restarted counter does not walk back onto tags that processes still hold.

Companion keys: other small Redis values a pinned block needs (the agent history's version, read
by the decision engine during a submission) are fetched in the same round trip as the version
(`register_companion_key`, `pinned_companion`), so a submission pays one round trip for both.

Read with the session: an HTTP request opens an offer (`version_offer_open`, on request_started)
that the session engine fills with the version and the companions it fetched in the session's own
MGET (apps/users/sessions.py); the request's first pinned block takes that read instead of asking
Redis again. The block then holds the configuration as of the start of the request, not of the
block (~1-2 ms earlier in a POST). An offer is used once, only in the request that filled it
(request_finished closes it; a websocket's session load finds none open), and never once this
process has seen a configuration change after the read (`_changes`): a request that changed the
configuration reads the version anew, as before.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.db import connection, transaction

log = logging.getLogger(__name__)

VERSION_KEY = "amas:config-version"
MAX_AGE = 60.0  # seconds; the bound on staleness when a version bump was lost

T = TypeVar("T")
_NO_PIN = object()
_pinned: ContextVar[object] = ContextVar("amas_config_version_pinned", default=_NO_PIN)
_caches: list[ConfigCache[Any]] = []
_companion_keys: list[str] = []
_NOT_FETCHED = (False, None)
# The companions' values read with the pinned version (None: not pinned, or Redis unreadable).
_companions: ContextVar[dict[str, Any] | None] = ContextVar("amas_config_companions", default=None)
# Configuration changes this process has seen (config_changed, _bump): an offer read before one of
# them is not used.
_changes = 0


class _Offer:
    """The version (and companions) read with the request's session, until a pinned block takes it."""

    __slots__ = ("companions", "version", "changes")

    def __init__(self) -> None:
        self.version: int | None = None
        self.companions: dict[str, Any] | None = None
        self.changes = -1


_offer: ContextVar[_Offer | None] = ContextVar("amas_config_version_offer", default=None)


def version_offer_open(sender: Any = None, **kwargs: Any) -> None:
    """request_started receiver: this request may read the version with its session."""
    _offer.set(_Offer())


def version_offer_close(sender: Any = None, **kwargs: Any) -> None:
    """request_finished receiver: nothing read in this request is used after it."""
    _offer.set(None)


def version_offer_keys() -> list[str]:
    """The keys to read with the session (none outside an HTTP request, or once filled)."""
    offer = _offer.get()
    if offer is None or offer.changes >= 0:
        return []
    offer.changes = _changes  # before the read: a change seen after it voids the offer
    return [VERSION_KEY, *_companion_keys]


def version_offer_fill(found: dict[str, Any]) -> None:
    """The values of version_offer_keys() as the cache's get_many returned them."""
    offer = _offer.get()
    version = found.get(VERSION_KEY)
    if offer is None or version is None:  # missing: the pinned block creates it
        return
    try:
        offer.version = int(version)
    except (TypeError, ValueError):
        return
    offer.companions = {key: found[key] for key in _companion_keys if key in found}


def _offered() -> tuple[int, dict[str, Any]] | None:
    """The offer's read, once, if no configuration change was seen since."""
    offer = _offer.get()
    if offer is None or offer.version is None or offer.companions is None:
        return None
    version, companions = offer.version, offer.companions
    offer.version = offer.companions = None
    if offer.changes != _changes:
        return None
    return version, companions


def register_companion_key(key: str) -> None:
    """Read `key` with the version whenever a block is pinned (AppConfig.ready of its owner)."""
    if key not in _companion_keys:
        _companion_keys.append(key)


def pinned_companion(key: str) -> tuple[bool, Any]:
    """(True, value or None if missing) when the current pinned block read `key` with the version;
    (False, None) otherwise: the caller reads it itself."""
    found = _companions.get()
    if found is None or key not in _companion_keys:
        return _NOT_FETCHED
    return True, found.get(key)


def _read_version() -> int | None:
    return _read_version_and_companions([])[0]


def _read_version_and_companions(companions: list[str]) -> tuple[int | None, dict[str, Any] | None]:
    try:
        found = cache.get_many([VERSION_KEY, *companions]) if companions else {}
        version = found.get(VERSION_KEY) if companions else cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, secrets.randbits(62), timeout=None)
            version = cache.get(VERSION_KEY)
    except Exception:  # Redis unreachable: correctness over speed, read Postgres
        log.warning("Configuration version unreadable; reading configuration from the database")
        return None, None
    return (int(version) if version is not None else None), found


def config_version() -> int | None:
    """The current configuration version (None: unknown, do not use cached entries)."""
    pinned = _pinned.get()
    if pinned is not _NO_PIN:
        return pinned  # type: ignore[return-value]
    return _read_version()


@contextmanager
def config_version_pinned() -> Iterator[None]:
    """Read the version once for the block (e.g. one task submission and its after-commit
    hooks): a change committed during the block is seen by the next block. Nested, the outer
    block's version holds (the outbox's pin inside task_create's reads nothing more)."""
    if _pinned.get() is not _NO_PIN:
        yield
        return
    offered = _offered()
    version: int | None
    companions: dict[str, Any] | None
    if offered is not None:  # read with the session (see the module docstring)
        version, companions = offered
    else:
        version, companions = _read_version_and_companions(list(_companion_keys))
    token = _pinned.set(version)
    companions_token = _companions.set(companions)
    try:
        yield
    finally:
        _companions.reset(companions_token)
        _pinned.reset(token)


def _bump() -> None:
    global _changes
    _changes += 1
    for local in _caches:
        local.clear()
    try:
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # missing key: start a fresh counter (see the module docstring)
            cache.add(VERSION_KEY, secrets.randbits(62), timeout=None)
    except Exception:
        log.warning("Could not bump the configuration version; other processes catch up within %ss", MAX_AGE)


def config_changed(sender: Any = None, **kwargs: Any) -> None:
    """post_save/post_delete receiver for rows a ConfigCache holds: this process forgets its
    entries now (its own next read, even inside the same transaction, sees the change) and every
    process's after the version is bumped on commit (at once outside a transaction)."""
    global _changes
    _changes += 1
    for local in _caches:
        local.clear()
    if connection.in_atomic_block:
        connection.amas_config_dirty = connection.atomic_blocks[0]  # type: ignore[attr-defined]
    transaction.on_commit(_bump)


def _dirty() -> bool:
    """Whether this thread's open transaction changed configuration: its reads must see its own
    uncommitted rows, and what it reads must not be kept (a rollback would leave it cached). The
    transaction is told apart by its outermost atomic block; a decorator's block is reused by every
    call, so a later call of the same function may bypass the cache too, which is only slower."""
    marked = getattr(connection, "amas_config_dirty", None)
    return marked is not None and connection.in_atomic_block and connection.atomic_blocks[0] is marked


class ConfigCache(Generic[T]):
    """Answers of `load(scope)` per scope, valid while the configuration version is unchanged.
    Values are shared between threads: callers must not mutate them (return tuples)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[Hashable, tuple[int, float, T]] = {}
        self._lock = threading.Lock()
        _caches.append(self)

    def get(self, scope: Hashable, load: Callable[[], T]) -> T:
        if _dirty():
            return load()
        version = config_version()
        if version is not None:
            entry = self._entries.get(scope)
            if entry is not None and entry[0] == version and time.monotonic() - entry[1] < MAX_AGE:
                return entry[2]
        value = load()
        if version is not None:
            with self._lock:
                self._entries[scope] = (version, time.monotonic(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
