"""One Redis connection pool per process for Django's cache.

Django's cache handler keeps backend instances in an asgiref Local, which under ASGI is scoped to
the request's context: every request built a new RedisCache, a new redis-py pool and so a new TCP
connection (connect + health-check PING) — measured as the largest single cost of a token-authenticated
API request. Django builds pools with `pool_class.from_url(url, **options)`, so this class
answers that call with the process's pool for the same URL and options. A pool is never shared
across a fork: a Celery prefork child makes its own (redis-py also checks the pid itself).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple[int, str, tuple], redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:  # type: ignore[override]
        key = (os.getpid(), url, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    for stale in [k for k in _pools if k[0] != key[0]]:
                        del _pools[stale]
                    pool = redis.ConnectionPool.from_url(url, **kwargs)
                    _pools[key] = pool
        return pool


_clients: dict[int, redis.Redis] = {}


class _SharedClientCacheClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = _clients.get(id(pool))
        if client is None or client.connection_pool is not pool:
            client = self._client(connection_pool=pool)  # type: ignore[attr-defined]
            _clients[id(pool)] = client
        return client


class SharedClientRedisCache(RedisCache):
    """Django's RedisCache, but the redis-py client over the process's pool is built once per
    pool: Django builds a new redis.Redis for every cache call, and its constructor copies ~170
    response callbacks (a task submission made fourteen; ~12 % of its CPU under yappi). A
    redis.Redis is safe to share between threads: each command borrows a connection from the pool."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClientCacheClient
