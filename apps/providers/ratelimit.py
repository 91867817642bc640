"""Requests-per-minute and tokens-per-minute limits, enforced across processes with two token
buckets per provider in Redis (one Lua script takes from both or from neither), plus a block
that a vendor's 429 Retry-After sets, so no process hammers a vendor that asked us to wait."""

from __future__ import annotations

from apps.providers import redis_client
from apps.providers.breaker import NOW

# A Lua function (composed into scripts here and in gate.py): returns 0 when it took one request
# and `tokens` tokens, else the milliseconds to wait (and takes nothing).
LUA = """
local function rate_take(rpm_key, tpm_key, block_key, rpm, tpm, tokens, now)
  local blocked = redis.call('PTTL', block_key)
  if blocked > 0 then return blocked end
  local caps = {rpm, tpm}
  local keys = {rpm_key, tpm_key}
  local wants = {1, math.min(tokens, tpm)}
  local levels = {}
  local wait = 0
  for i = 1, 2 do
    if caps[i] > 0 then
      local b = redis.call('HMGET', keys[i], 'tokens', 'ts')
      local level = tonumber(b[1]) or caps[i]
      local ts = tonumber(b[2]) or now
      levels[i] = math.min(caps[i], level + (now - ts) * caps[i] / 60000.0)
      if levels[i] < wants[i] then
        wait = math.max(wait, math.ceil((wants[i] - levels[i]) * 60000.0 / caps[i]))
      end
    end
  end
  for i = 1, 2 do
    if caps[i] > 0 then
      local level = levels[i]
      if wait == 0 then level = level - wants[i] end
      redis.call('HSET', keys[i], 'tokens', tostring(level), 'ts', now)
      redis.call('PEXPIRE', keys[i], 120000)
    end
  end
  return wait
end
"""

_ACQUIRE = (
    NOW
    + LUA
    + """
return rate_take(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), now)
"""
)


def keys(provider_id: int) -> list[str]:
    return [
        redis_client.key("rpm", provider_id),
        redis_client.key("tpm", provider_id),
        redis_client.key("blocked", provider_id),
    ]


def try_acquire(provider_id: int, *, rpm: int, tpm: int, tokens: int) -> float:
    """Take one request and `tokens` tokens now, or return how many seconds to wait (nothing taken).
    Also returns the remaining wait when a vendor's Retry-After blocks the provider."""
    wait_ms = redis_client.script(_ACQUIRE)(keys=keys(provider_id), args=[rpm, tpm, max(0, tokens)])
    return int(wait_ms) / 1000


def refund(provider_id: int, *, rpm: int, tpm: int, tokens: int) -> None:
    """Give back what try_acquire took for a call that did not happen."""
    pipe = redis_client.client().pipeline(transaction=False)
    if rpm > 0:
        pipe.hincrbyfloat(redis_client.key("rpm", provider_id), "tokens", 1)
    if tpm > 0:
        pipe.hincrbyfloat(redis_client.key("tpm", provider_id), "tokens", min(tokens, tpm))
    pipe.execute()


def block(provider_id: int, seconds: float) -> None:
    """The vendor said "retry after N seconds": every process skips it until then."""
    if seconds > 0:
        redis_client.client().set(redis_client.key("blocked", provider_id), 1, px=max(1, int(seconds * 1000)))
