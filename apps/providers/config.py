"""The enabled providers, cached in each process and checked against a version counter in Redis
that every save or delete of a Provider bumps, so an admin's change (say, narrowing a provider's
allowed classifications) applies to every process on its next call. Writes that bypass signals
(QuerySet.update) are picked up after AMAS_PROVIDER_CONFIG_TTL seconds at the latest; `migrate`
and `flush` (post_migrate) count as a change."""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from django.db import connection

from apps.providers import redis_client
from apps.providers.models import Provider

log = logging.getLogger("amas.providers")
_VERSION_KEY = "config_version"
_lock = threading.Lock()
_snapshot: tuple[bytes | str, float, list[Provider]] | None = None


def _query() -> list[Provider]:
    return list(Provider.objects.filter(enabled=True).order_by("priority", "name"))


def enabled_providers() -> list[Provider]:
    """Inside a transaction the rows are always read fresh (and never cached): what a transaction
    sees may be rolled back, and it may have changed rows itself without telling anyone yet."""
    global _snapshot
    ttl = settings.AMAS_PROVIDER_CONFIG_TTL
    if ttl <= 0 or connection.in_atomic_block:
        return _query()
    version = redis_client.client().get(redis_client.key(_VERSION_KEY)) or b"0"
    now = time.monotonic()
    snapshot = _snapshot
    if snapshot is not None and snapshot[0] == version and now - snapshot[1] < ttl:
        return snapshot[2]
    providers = _query()
    with _lock:
        _snapshot = (version, now, providers)
    return providers


def providers_changed(**_: object) -> None:
    """Signal receiver: every process reloads the providers on its next call."""
    global _snapshot
    with _lock:
        _snapshot = None
    try:
        redis_client.client().incr(redis_client.key(_VERSION_KEY))
    except redis.RedisError:  # the change is still picked up after the TTL
        log.warning("could not announce a provider change (Redis unavailable)", exc_info=True)
