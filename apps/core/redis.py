"""One Redis connection pool per (process, URL, timeout), shared by every app that keeps state in
Redis (provider breakers and buckets, agent concurrency slots, metrics). Pools are re-created
after a fork, so Celery prefork children never share a parent's sockets."""

from __future__ import annotations

import os

import redis
from django.conf import settings

_clients: dict[tuple[int, str, float], redis.Redis] = {}


def redis_client(url: str | None = None, *, timeout: float = 2.0) -> redis.Redis:
    url = url or settings.REDIS_URL
    pid = os.getpid()
    key = (pid, url, timeout)
    found = _clients.get(key)
    if found is None:
        for stale in [k for k in _clients if k[0] != pid]:
            del _clients[stale]
        found = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        _clients[key] = found
    return found
