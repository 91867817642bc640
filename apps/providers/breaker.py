"""Per-provider circuit breaker, shared by every process through Redis.

closed    -> calls pass; consecutive failures are counted; at the threshold the circuit opens.
open      -> calls are refused until the cool-down has passed, then the circuit half-opens.
half-open -> one probe call at a time passes; enough successes close it, a failure re-opens it.

Transitions run as Lua scripts on Redis' clock, so two workers on two machines agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.providers import redis_client

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# A Lua function (composed into scripts here and in gate.py). `now` is Redis' clock in ms.
LUA = """
local function breaker_op(key, op, threshold, cooldown, needed, err, now)
  local state = redis.call('HGET', key, 'state') or 'closed'
  if op == 'allow' then
    if state == 'open' then
      local opened = tonumber(redis.call('HGET', key, 'opened_at') or '0')
      if now - opened < cooldown then return {0, state} end
      redis.call('HSET', key, 'state', 'half_open', 'successes', 0, 'probe_at', now)
      return {1, 'half_open'}
    end
    if state == 'half_open' then
      local probe = tonumber(redis.call('HGET', key, 'probe_at') or '0')
      if probe > 0 and now - probe < cooldown then return {0, state} end
      redis.call('HSET', key, 'probe_at', now)
    end
    return {1, state}
  end
  if op == 'release' then
    if state == 'half_open' then redis.call('HSET', key, 'probe_at', 0) end
    return {1, state}
  end
  if op == 'success' then
    if state == 'half_open' then
      local successes = redis.call('HINCRBY', key, 'successes', 1)
      if successes >= needed then
        redis.call('HSET', key, 'state', 'closed', 'failures', 0, 'successes', 0, 'probe_at', 0)
        return {1, 'closed'}
      end
      redis.call('HSET', key, 'probe_at', 0)
      return {1, 'half_open'}
    end
    if state == 'closed' and redis.call('HGET', key, 'failures') ~= '0' then
      redis.call('HSET', key, 'failures', 0)
    end
    return {1, state}
  end
  -- failure
  redis.call('HSET', key, 'last_error', err, 'last_failure_at', now)
  if state == 'half_open' then
    redis.call('HSET', key, 'state', 'open', 'opened_at', now, 'probe_at', 0, 'successes', 0)
    return {0, 'open'}
  end
  if state == 'closed' then
    local failures = redis.call('HINCRBY', key, 'failures', 1)
    if failures >= threshold then
      redis.call('HSET', key, 'state', 'open', 'opened_at', now)
      return {0, 'open'}
    end
  end
  return {0, state}
end
"""

NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

_SCRIPT = (
    NOW
    + LUA
    + """
return breaker_op(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], now)
"""
)


def args(op: str, error: str = "") -> list[object]:
    return [
        op,
        settings.AMAS_PROVIDER_BREAKER_FAILURES,
        int(settings.AMAS_PROVIDER_BREAKER_COOLDOWN * 1000),
        settings.AMAS_PROVIDER_BREAKER_HALF_OPEN_SUCCESSES,
        error[:500],
    ]


@dataclass
class BreakerState:
    state: str
    failures: int = 0
    last_error: str = ""
    opened_at_ms: int = 0
    cooldown_remaining: float = 0.0


def key(provider_id: int) -> str:
    return redis_client.key("breaker", provider_id)


def parse(result: Any) -> tuple[bool, str]:
    allowed, current = result[0], result[1]
    return bool(int(allowed)), current.decode() if isinstance(current, bytes) else str(current)


def _run(provider_id: int, op: str, error: str = "") -> tuple[bool, str]:
    return parse(redis_client.script(_SCRIPT)(keys=[key(provider_id)], args=args(op, error)))


def allow(provider_id: int) -> tuple[bool, str]:
    """May a call go to this provider now, and in which state is its circuit? In half-open this
    claims the single probe slot (until success, failure or release)."""
    return _run(provider_id, "allow")


def release(provider_id: int) -> None:
    """An allowed call did not happen after all (budget, rate limit): free the probe slot."""
    _run(provider_id, "release")


def record_failure(provider_id: int, error: str) -> str:
    return _run(provider_id, "failure", error)[1]


def state(provider_id: int) -> BreakerState:
    return states([provider_id])[provider_id]


def states(provider_ids: list[int]) -> dict[int, BreakerState]:
    from apps.providers import bookkeeping

    bookkeeping.flush(timeout=1.0)  # this process's outcomes written behind its calls
    conn = redis_client.client()
    pipe = conn.pipeline(transaction=False)
    for provider_id in provider_ids:
        pipe.hgetall(key(provider_id))
    pipe.time()
    *rows, (seconds, micros) = pipe.execute()
    now_ms = seconds * 1000 + micros // 1000
    cooldown_ms = settings.AMAS_PROVIDER_BREAKER_COOLDOWN * 1000
    out: dict[int, BreakerState] = {}
    for provider_id, raw in zip(provider_ids, rows, strict=True):
        row = {k.decode(): v.decode() for k, v in raw.items()}
        current = row.get("state", CLOSED)
        opened = int(float(row.get("opened_at", 0) or 0))
        remaining = max(0.0, (opened + cooldown_ms - now_ms) / 1000) if current == OPEN else 0.0
        out[provider_id] = BreakerState(
            state=current,
            failures=int(row.get("failures", 0) or 0),
            last_error=row.get("last_error", ""),
            opened_at_ms=opened,
            cooldown_remaining=remaining,
        )
    return out


def reset(provider_id: int) -> None:
    redis_client.client().delete(key(provider_id))
