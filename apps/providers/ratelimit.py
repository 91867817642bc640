"""Requests-per-minute and tokens-per-minute limits, enforced across processes with two token
buckets per provider in Redis (one Lua script takes from both or from neither), plus a block
that a vendor's 429 Retry-After sets, so no process hammers a vendor that asked us to wait."""

from __future__ import annotations

from apps.providers import redis_client

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', KEYS[3])
if blocked > 0 then return blocked end

local function refill(key, capacity)
  local b = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(b[1]) or capacity
  local ts = tonumber(b[2]) or now
  return math.min(capacity, tokens + (now - ts) * capacity / 60000.0)
end

local caps = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local wants = {1, math.min(tonumber(ARGV[3]), tonumber(ARGV[2]))}
local levels = {}
local wait = 0
for i = 1, 2 do
  if caps[i] > 0 then
    levels[i] = refill(KEYS[i], caps[i])
    if levels[i] < wants[i] then
      wait = math.max(wait, math.ceil((wants[i] - levels[i]) * 60000.0 / caps[i]))
    end
  end
end
for i = 1, 2 do
  if caps[i] > 0 then
    local level = levels[i]
    if wait == 0 then level = level - wants[i] end
    redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', now)
    redis.call('PEXPIRE', KEYS[i], 120000)
  end
end
return wait
"""


def _keys(provider_id: int) -> list[str]:
    return [
        redis_client.key("rpm", provider_id),
        redis_client.key("tpm", provider_id),
        redis_client.key("blocked", provider_id),
    ]


def try_acquire(provider_id: int, *, rpm: int, tpm: int, tokens: int) -> float:
    """Take one request and `tokens` tokens now, or return how many seconds to wait (nothing taken).
    Also returns the remaining wait when a vendor's Retry-After blocks the provider."""
    wait_ms = redis_client.script(_ACQUIRE)(keys=_keys(provider_id), args=[rpm, tpm, max(0, tokens)])
    return int(wait_ms) / 1000


def settle(provider_id: int, *, tpm: int, estimated: int, actual: int) -> None:
    """Correct the token bucket with the real usage once the vendor reported it."""
    if tpm > 0 and actual != estimated:
        redis_client.client().hincrbyfloat(redis_client.key("tpm", provider_id), "tokens", estimated - actual)


def block(provider_id: int, seconds: float) -> None:
    """The vendor said "retry after N seconds": every process skips it until then."""
    if seconds > 0:
        redis_client.client().set(redis_client.key("blocked", provider_id), 1, px=max(1, int(seconds * 1000)))
