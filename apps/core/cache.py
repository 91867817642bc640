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
