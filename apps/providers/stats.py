"""Live per-provider statistics in Redis for the routing strategies: EWMA latency and EWMA success
rate of recent attempts, and the round-robin cursor. Shared by every process."""

from __future__ import annotations

from dataclasses import dataclass

from apps.providers import redis_client

ALPHA = 0.2  # weight of the newest observation

# A Lua function (composed into scripts here and in gate.py). latency '' = not measured.
LUA = """
local function stats_observe(key, latency_ms, ok, alpha)
  local b = redis.call('HMGET', key, 'latency', 'success', 'n')
  local latency = tonumber(b[1])
  local success = tonumber(b[2])
  if latency_ms ~= '' then
    local observed = tonumber(latency_ms)
    if latency == nil then latency = observed else latency = latency + alpha * (observed - latency) end
  end
  if success == nil then success = ok else success = success + alpha * (ok - success) end
  redis.call('HSET', key, 'success', tostring(success), 'n', (tonumber(b[3]) or 0) + 1)
  if latency ~= nil then redis.call('HSET', key, 'latency', tostring(latency)) end
  return 1
end
"""

_OBSERVE = LUA + "return stats_observe(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))"


@dataclass
class ProviderStats:
    latency_ms: float | None = None
    success_rate: float | None = None
    samples: int = 0


def key(provider_id: int) -> str:
    return redis_client.key("stats", provider_id)


def latency_arg(latency_ms: float | None) -> str:
    return "" if latency_ms is None else f"{latency_ms:.3f}"


def observe(provider_id: int, *, ok: bool, latency_ms: float | None) -> None:
    """Record an attempt; latency only counts for answers (a timeout says nothing about speed)."""
    redis_client.script(_OBSERVE)(
        keys=[key(provider_id)], args=[latency_arg(latency_ms), 1 if ok else 0, ALPHA]
    )


def read(provider_ids: list[int]) -> dict[int, ProviderStats]:
    pipe = redis_client.client().pipeline(transaction=False)
    for provider_id in provider_ids:
        pipe.hmget(redis_client.key("stats", provider_id), "latency", "success", "n")
    out = {}
    for provider_id, (latency, success, samples) in zip(provider_ids, pipe.execute(), strict=True):
        out[provider_id] = ProviderStats(
            latency_ms=float(latency) if latency is not None else None,
            success_rate=float(success) if success is not None else None,
            samples=int(samples or 0),
        )
    return out


def next_turn(scope: str) -> int:
    return int(redis_client.client().incr(redis_client.key("rr", scope))) - 1
