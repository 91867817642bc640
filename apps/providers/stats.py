"""Live per-provider statistics in Redis for the routing strategies: EWMA latency and EWMA success
rate of recent attempts, and the round-robin cursor. Shared by every process."""

from __future__ import annotations

from dataclasses import dataclass

from apps.providers import redis_client

ALPHA = 0.2  # weight of the newest observation

_OBSERVE = """
local b = redis.call('HMGET', KEYS[1], 'latency', 'success', 'n')
local alpha = tonumber(ARGV[3])
local latency = tonumber(b[1])
local success = tonumber(b[2])
local ok = tonumber(ARGV[2])
if ARGV[1] ~= '' then
  local observed = tonumber(ARGV[1])
  if latency == nil then latency = observed else latency = latency + alpha * (observed - latency) end
end
if success == nil then success = ok else success = success + alpha * (ok - success) end
redis.call('HSET', KEYS[1], 'success', tostring(success), 'n', (tonumber(b[3]) or 0) + 1)
if latency ~= nil then redis.call('HSET', KEYS[1], 'latency', tostring(latency)) end
return 1
"""


@dataclass
class ProviderStats:
    latency_ms: float | None = None
    success_rate: float | None = None
    samples: int = 0


def observe(provider_id: int, *, ok: bool, latency_ms: float | None) -> None:
    """Record an attempt; latency only counts for answers (a timeout says nothing about speed)."""
    redis_client.script(_OBSERVE)(
        keys=[redis_client.key("stats", provider_id)],
        args=["" if latency_ms is None else f"{latency_ms:.3f}", 1 if ok else 0, ALPHA],
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
