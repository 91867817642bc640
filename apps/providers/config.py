"""The enabled providers, cached in each process and checked against a version counter in Redis
that every save or delete of a Provider or a Budget bumps, so an admin's change (say, narrowing a
provider's allowed classifications) applies to every process on its next call. Writes that bypass
signals (QuerySet.update) are picked up after AMAS_PROVIDER_CONFIG_TTL seconds at the latest;
`migrate` and `flush` (post_migrate) count as a change.

The version check costs no round trip of its own on the router's hot path: `view()` hands out the
cached rows unconfirmed, and the router sends their version along with its first admission (the
admit script compares it in Redis and refuses a stale view without touching breaker or buckets).
A stale view raises `Stale` and the router starts over with fresh rows; a call that ends without
any admission (built-in provider only, nothing allowed) confirms the version with one GET, or,
inside a `version_pinned()` block (an index drain's batch: many embedding calls, all answered by
the built-in provider), with the one GET the block makes for all its calls: a change committed
while the block runs is seen by the next block, and a lost bump is still bounded by the TTL (the
rows themselves are re-read at the latest AMAS_PROVIDER_CONFIG_TTL seconds after they were)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection, transaction

from apps.providers import redis_client
from apps.providers.models import Provider

log = logging.getLogger("amas.providers")
_VERSION_KEY = "config_version"
_lock = threading.Lock()
_snapshot: tuple[bytes, float, list[Provider]] | None = None
# Inside version_pinned(): [] until the block's first confirmation reads the version, then [it].
_pinned: ContextVar[list[bytes] | None] = ContextVar("amas_provider_version_pinned", default=None)


def _query() -> list[Provider]:
    return list(Provider.objects.filter(enabled=True).order_by("priority", "name"))


class Stale(Exception):
    """The provider rows a call started with have changed since: the router starts over."""


@dataclass
class View:
    """The rows one router call works with. `version` is what they were read at (None: read
    fresh, nothing to confirm); `confirmed` once Redis said that version is still current."""

    providers: list[Provider]
    version: bytes | None
    confirmed: bool


def view() -> View:
    """Inside a transaction the rows are always read fresh (and never cached): what a transaction
    sees may be rolled back, and it may have changed rows itself without telling anyone yet."""
    global _snapshot
    ttl = settings.AMAS_PROVIDER_CONFIG_TTL
    if ttl <= 0 or connection.in_atomic_block:
        return View(_query(), None, True)
    now = time.monotonic()
    snapshot = _snapshot
    if snapshot is not None and now - snapshot[1] < ttl:
        return View(snapshot[2], snapshot[0], False)
    version = _current_version()
    providers = _query()  # after the version: a change in between is seen on the next call
    with _lock:
        _snapshot = (version, now, providers)
    return View(providers, version, True)


def _current_version() -> bytes:
    value = redis_client.client().get(redis_client.key(_VERSION_KEY)) or b"0"
    return value if isinstance(value, bytes) else str(value).encode()


def version_key() -> str:
    return redis_client.key(_VERSION_KEY)


def expected_version(current: View) -> str:
    """What the admit script compares against ('' when there is nothing to confirm)."""
    return "" if current.confirmed or current.version is None else current.version.decode()


def observed(current: View, version: bytes | str | None) -> None:
    """Redis answered an admission with the current version: confirm the view or raise Stale."""
    if current.confirmed or current.version is None:
        return
    seen = version if isinstance(version, bytes) else str(version or "0").encode()
    if seen != current.version:
        _drop()
        raise Stale
    current.confirmed = True


def confirm(current: View) -> None:
    """One GET for a call that reached no admission (none inside a version_pinned() block that
    has read it already): raise Stale if the rows have changed."""
    if current.confirmed or current.version is None:
        return
    pinned = _pinned.get()
    if pinned is None:
        observed(current, _current_version())
        return
    if not pinned:
        pinned.append(_current_version())
    try:
        observed(current, pinned[0])
    except Stale:
        pinned.clear()  # the rows re-read now may be newer than the pinned read: read it again
        raise


@contextmanager
def version_pinned() -> Iterator[None]:
    """Confirm the router calls of this block with one version read (made by the first call that
    needs it, so a block that routes nothing reads nothing). Nested, the outer block's read holds.
    A view found stale drops the rows and the pin (the router re-reads the rows, confirmed; the
    next call that needs it reads the version again)."""
    if _pinned.get() is not None:
        yield
        return
    token = _pinned.set([])
    try:
        yield
    finally:
        _pinned.reset(token)


def enabled_providers() -> list[Provider]:
    """The enabled providers, the version confirmed now (for callers outside the router)."""
    current = view()
    try:
        confirm(current)
    except Stale:
        current = view()
    return current.providers


def _drop() -> None:
    global _snapshot
    from apps.providers import budgets

    with _lock:
        _snapshot = None
    budgets.clear_cache()  # budget rows change under the same version counter


def providers_changed(**_: object) -> None:
    """Signal receiver (Provider and Budget rows): every process reloads them on its next call.
    This process forgets its rows now; the version is bumped once the change commits (at once
    outside a transaction): bumped before, another process could read the new version, then the
    rows still uncommitted, and keep the old rows under the new version until the TTL."""
    _drop()
    transaction.on_commit(_announce)


def _announce() -> None:
    _drop()  # rows this process re-read while the change was uncommitted
    try:
        redis_client.client().incr(redis_client.key(_VERSION_KEY))
    except redis.RedisError:  # the change is still picked up after the TTL
        log.warning("could not announce a provider change (Redis unavailable)", exc_info=True)
