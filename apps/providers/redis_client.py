"""The Redis connection the provider layer shares across processes (breakers, buckets, stats,
budgets, cache L2). One pool per process; re-created after a fork (Celery prefork)."""

from __future__ import annotations

import redis
from django.conf import settings

from apps.core.redis import redis_client

PREFIX = "amas:prov:"


def client() -> redis.Redis:
    return redis_client(settings.AMAS_PROVIDER_REDIS_URL)


def key(*parts: object) -> str:
    return PREFIX + ":".join(str(p) for p in parts)


_scripts: dict[tuple[int, str], object] = {}


def script(source: str):  # redis.commands.core.Script
    """A registered Lua script (EVALSHA with automatic load), cached per process."""
    conn = client()
    cache_key = (id(conn), source)
    found = _scripts.get(cache_key)
    if found is None:
        found = conn.register_script(source)
        _scripts[cache_key] = found
    return found
