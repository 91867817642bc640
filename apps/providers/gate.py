"""The router's two Redis round trips per attempt, each one Lua script composed from the breaker,
rate-limit and stats functions: `admit` before the call (provider rows still current? circuit
allows? rate tokens taken?) and `outcome` after it (circuit, EWMA stats, token bucket and the
budget counters' reconciliation)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.providers import bookkeeping, breaker, config, ratelimit, redis_client, stats
from apps.providers.models import Provider

_ADMIT = (
    breaker.NOW
    + breaker.LUA
    + ratelimit.LUA
    + """
local version = redis.call('GET', KEYS[5]) or '0'
if ARGV[7] ~= '' and ARGV[7] ~= version then return {2, '', 0, version} end
local gate = breaker_op(KEYS[1], 'allow', tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), '', now)
if gate[1] == 0 then return {0, gate[2], 0, version} end
local wait = rate_take(KEYS[2], KEYS[3], KEYS[4],
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), now)
return {1, gate[2], wait, version}
"""
)

_OUTCOME = (
    breaker.NOW
    + breaker.LUA
    + stats.LUA
    + """
stats_observe(KEYS[2], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
local state = ''
if ARGV[8] ~= '' then
  state = breaker_op(KEYS[1], ARGV[8],
    tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], now)[2]
end
local tokens_back = tonumber(ARGV[9])
if tokens_back ~= 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[3], 'tokens', tokens_back)
end
local budget_delta = tonumber(ARGV[10])
if budget_delta ~= 0 then
  for i = 4, #KEYS do redis.call('INCRBY', KEYS[i], budget_delta) end
end
return state
"""
)


@dataclass
class Admission:
    allowed: bool  # the circuit lets the call through
    state: str  # the circuit's state
    wait: float  # seconds until rate-limit tokens are available (0: taken)
    version: bytes  # the provider configuration's current version


def admit(provider: Provider, *, tokens: int, current: config.View) -> Admission:
    """Check the call's provider rows are current (else raise config.Stale, nothing taken); ask
    the circuit; only when it allows, take rate-limit tokens (or learn how long to wait)."""
    threshold, cooldown, needed = breaker.args("allow")[1:4]
    allowed, state, wait_ms, version = redis_client.script(_ADMIT)(
        keys=[breaker.key(provider.id), *ratelimit.keys(provider.id), config.version_key()],
        args=[
            threshold,
            cooldown,
            needed,
            provider.rpm_limit,
            provider.tpm_limit,
            max(0, tokens),
            config.expected_version(current),
        ],
    )
    config.observed(current, version)
    return Admission(
        allowed=bool(int(allowed)),
        state=state.decode() if isinstance(state, bytes) else str(state),
        wait=int(wait_ms) / 1000,
        version=version if isinstance(version, bytes) else str(version).encode(),
    )


def outcome(
    provider: Provider,
    *,
    ok: bool,
    latency_ms: float | None,
    breaker_op: str,
    error: str = "",
    tokens_back: int = 0,
    budget_keys: list[str] | None = None,
    budget_delta: int = 0,
    behind: bool = False,
) -> None:
    """Record an attempt: EWMA stats, the circuit (`breaker_op` success|failure|'' for neither),
    `tokens_back` returned to the tpm bucket (estimate minus real usage), and `budget_delta`
    (micro-USD: real cost minus reserved) added to the budget counters `budget_keys`.

    `behind`: the caller does not wait; the script goes to this process's bookkeeping writer
    (router.py decides when that is safe: a success in a closed circuit that adds no spend).
    Otherwise what this process queued before is written first, so its outcomes reach the
    circuit in the order they happened."""
    threshold, cooldown, needed = breaker.args(breaker_op or "success")[1:4]
    keys = [
        breaker.key(provider.id),
        stats.key(provider.id),
        redis_client.key("tpm", provider.id),
        *(budget_keys or []),
    ]
    args = [
        threshold,
        cooldown,
        needed,
        error[:500],
        stats.latency_arg(latency_ms),
        1 if ok else 0,
        stats.ALPHA,
        breaker_op,
        tokens_back if provider.tpm_limit else 0,
        budget_delta if budget_keys else 0,
    ]
    script = redis_client.script(_OUTCOME)
    if behind and bookkeeping.defer_outcome(script, keys, args):
        return
    bookkeeping.flush(timeout=1.0)
    script(keys=keys, args=args)
