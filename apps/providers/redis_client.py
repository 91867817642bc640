"""The Redis connection the provider layer shares across processes (breakers, buckets, stats,
budgets, cache L2). One pool per process; re-created after a fork (Celery prefork)."""

from __future__ import annotations

import os

import redis
from django.conf import settings

PREFIX = "amas:prov:"

_clients: dict[tuple[int, str], redis.Redis] = {}


def client() -> redis.Redis:
    url = settings.AMAS_PROVIDER_REDIS_URL
    key = (os.getpid(), url)
    found = _clients.get(key)
    if found is None:
        found = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        _clients.clear()
        _clients[key] = found
    return found


def key(*parts: object) -> str:
    return PREFIX + ":".join(str(p) for p in parts)


_scripts: dict[tuple[int, str], object] = {}


def script(source: str):  # noqa: ANN201 - redis.commands.core.Script
    """A registered Lua script (EVALSHA with automatic load), cached per process."""
    conn = client()
    cache_key = (id(conn), source)
    found = _scripts.get(cache_key)
    if found is None:
        found = conn.register_script(source)
        _scripts[cache_key] = found
    return found
