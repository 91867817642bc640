"""Response cache: L1 in the process (LRU with TTL), L2 in Redis (TTL), shared by all processes.

The key is a hash of the provider-independent request (messages, parameters, operation) and is
namespaced by organisation and classification. By organisation: a "cached" answer would tell one
tenant that another submitted the same text, so tenants never share entries (calls outside any
organisation share the "none" namespace). By classification: an answer computed for TLP:CLEAR
data is never served to a TLP:RED call or the other way round, even for identical text.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings

from apps.providers import redis_client

_local: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
_lock = threading.Lock()


def enabled() -> bool:
    return settings.AMAS_PROVIDER_CACHE_TTL > 0


def make_key(
    *, organization_id: int | None, classification: str, operation: str, payload: dict[str, Any]
) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()
    tenant = f"org{int(organization_id)}" if organization_id is not None else "none"
    return f"{tenant}:{classification}:{operation}:{digest}"


def get(key: str) -> dict[str, Any] | None:
    now = time.monotonic()
    with _lock:
        hit = _local.get(key)
        if hit is not None:
            if hit[0] > now:
                _local.move_to_end(key)
                return hit[1]
            del _local[key]
    raw = redis_client.client().get(redis_client.key("cache", key))
    if raw is None:
        return None
    value = json.loads(raw)
    _remember(key, value, now)
    return value


def set(key: str, value: dict[str, Any]) -> None:  # the cache's verb
    ttl = settings.AMAS_PROVIDER_CACHE_TTL
    redis_client.client().set(redis_client.key("cache", key), json.dumps(value), ex=ttl)
    _remember(key, value, time.monotonic())


def _remember(key: str, value: dict[str, Any], now: float) -> None:
    # L1 entries live at most as long as L2 ones, so a flush of Redis is felt within the TTL.
    with _lock:
        _local[key] = (now + settings.AMAS_PROVIDER_CACHE_TTL, value)
        _local.move_to_end(key)
        while len(_local) > settings.AMAS_PROVIDER_CACHE_L1_SIZE:
            _local.popitem(last=False)


def clear_local() -> None:
    with _lock:
        _local.clear()
