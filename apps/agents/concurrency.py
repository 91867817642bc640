"""Concurrency limits per agent config, enforced across every worker through Redis.

A slot is a member of a sorted set per config, scored by its lease expiry, so a worker that dies
holding a slot frees it when the lease runs out instead of leaking it. The pipeline calls
`agent_slot_acquire` before running a step (a False answer means: re-queue the step later) and
`agent_slot_release` when the step ends; acquiring again for the same step renews its lease."""

from __future__ import annotations

import time

import redis

from apps.core.config_cache import ConfigCache
from apps.core.redis import redis_client

PREFIX = "amas:agent-slots:"

# KEYS[1] slot set; ARGV: member, now, expires_at, limit. Returns 1 if the member holds a slot.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) - tonumber(ARGV[2])) + 60)
  return 1
end
return 0
"""


def _client() -> redis.Redis:
    return redis_client()


def _key(config_id: int) -> str:
    return f"{PREFIX}{config_id}"


# A config's limit and timeout, asked before every step of its agent: kept per process and
# dropped when any process saves or deletes an AgentConfig (apps/core/config_cache.py; the
# receiver is connected in AgentsConfig.ready()), so a changed limit holds from the next step.
_limits: ConfigCache[tuple[int, int]] = ConfigCache("agents.concurrency-limits")


def _config_limits(config_id: int) -> tuple[int, int]:
    from apps.agents.models import AgentConfig

    def load() -> tuple[int, int]:
        row = AgentConfig.objects.filter(pk=config_id).values("concurrency_limit", "timeout_seconds").first()
        if row is None:
            return 0, 0
        return row["concurrency_limit"], row["timeout_seconds"]

    return _limits.get(config_id, load)


def agent_slot_acquire(
    config_id: int | None, step_id: int, *, limit: int | None = None, lease_seconds: int | None = None
) -> bool:
    """Take (or renew) one of the config's slots for this step. Steps without a config (an agent
    nobody configured) are not limited. The lease defaults to the config's timeout plus a minute."""
    if config_id is None:
        return True
    if limit is None or lease_seconds is None:
        stored_limit, timeout = _config_limits(config_id)
        limit = stored_limit if limit is None else limit
        lease_seconds = (timeout + 60) if lease_seconds is None else lease_seconds
    if limit <= 0:
        return False  # the config was deleted: nothing may run under it
    now = time.time()
    held = _client().eval(_ACQUIRE, 1, _key(config_id), str(step_id), now, now + lease_seconds, limit)
    return bool(held)


def agent_slot_release(config_id: int | None, step_id: int) -> None:
    if config_id is None:
        return
    _client().zrem(_key(config_id), str(step_id))


def agent_slots_in_use(config_id: int) -> int:
    """Live slots of a config (expired leases do not count)."""
    return int(_client().zcount(_key(config_id), time.time(), "+inf"))


def agent_slots_in_use_many(config_ids: list[int]) -> dict[int, int]:
    if not config_ids:
        return {}
    now = time.time()
    pipe = _client().pipeline(transaction=False)
    for config_id in config_ids:
        pipe.zcount(_key(config_id), now, "+inf")
    return {cid: int(n) for cid, n in zip(config_ids, pipe.execute(), strict=True)}
