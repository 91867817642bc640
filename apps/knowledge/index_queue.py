"""Coalesced indexing: sources to index wait in a Redis list, and one Celery message drains
whatever has gathered, instead of one message per new task and one per result.

Each no-op task used to cost the worker three Celery messages (its step, then indexing its
description, then indexing its result); under load the two indexing messages were a large share
of the worker's CPU (broker round trips, prefork hand-over, per-message signals). Now a source is
pushed onto `PENDING` and a drain message is sent only when none is scheduled (`SCHEDULED`, set
with NX and an expiry), to start AMAS_INDEX_DELAY_SECONDS (1 s) later: a task that ends within
that second has its description and its result indexed by one drain in one embedding call, and
under load one drain takes many sources.

Nothing is lost when a worker dies: a drain moves what it takes into a list of its own, named by
its Celery message id, and removes that list only after indexing it; the message is acked late
and re-delivered with the same id after a worker loss, so the re-run finds the list and finishes
it. If Redis cannot be reached when a source is pushed, the source is indexed by its own message
as before. A drain message lost outright (a broker restart) holds SCHEDULED until it expires; a
beat sweep (`sweep`, every AMAS_INDEX_SWEEP_SECONDS) then sends a drain for what is pending.

A drain that fails for good (its hard time limit, an error it does not retry) is never delivered
again, so nobody would come back for its taken list. Every drain therefore stamps its message id
with the time in `TAKEN_AT` (a sorted set) before it moves anything into its list, and again at
each batch; the sweep moves the sources of lists whose stamp is older than the drain's hard time
limit (plus a margin: `taken_stale_seconds`) back onto PENDING, in one Lua script that re-checks
the stamp, so a list a live drain has stamped since is left alone. No live run of a drain can hold
a stamp that old: the time limit kills it first. A retry of that message that comes later (a
long backoff) finds its list empty and takes from PENDING like any drain; a source indexed twice
is indexed once in effect (unchanged text embeds nothing).

A drain indexes what it takes as one batch (apps/knowledge/indexing.py::sources_index): a few
statements whatever the number of sources, and one router call per task."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings

from apps.core.redis import redis_client
from apps.providers import config as provider_config

log = logging.getLogger(__name__)

PENDING = "amas:index:pending"
SCHEDULED = "amas:index:scheduled"
TAKEN = "amas:index:taken:"  # + the drain's Celery message id
TAKEN_AT = "amas:index:taken-at"  # sorted set: message id -> when its drain last stamped it
TAKEN_MARGIN = 60  # seconds past the drain's hard time limit before its list counts as abandoned
SCHEDULED_TTL = 60  # a drain that was lost before it ran is re-sent by the next push after this
BATCH = 100


def index_later(source: str, *, fallback: Callable[[], None]) -> None:
    """Queue `source` ("task:<id>" or "result:<id>") for the next drain (call after commit)."""
    from apps.knowledge.tasks import index_pending_task

    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.rpush(PENDING, source)
        pipe.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_TTL)
        _, schedule = pipe.execute()
    except redis.RedisError:
        log.warning("Index queue unreachable; indexing %s by its own message", source)
        fallback()
        return
    if schedule:
        index_pending_task.apply_async(
            queue=settings.AMAS_KNOWLEDGE_QUEUE, countdown=settings.AMAS_INDEX_DELAY_SECONDS or None
        )


def drain(message_id: str, *, limit: int = 1000) -> int:
    """Index what is pending, in batches of up to BATCH sources, up to `limit` sources (then
    another drain is sent, so one message stays well inside its time limit); a batch that
    emptied the queue is the last (what came meanwhile waits for its own, delayed, drain).
    Returns how many sources were indexed."""
    client = redis_client()
    taken = TAKEN + message_id
    # From now on a push schedules another drain: nothing pushed after our last look is missed.
    client.delete(SCHEDULED)
    done = 0
    while done < limit:
        # The stamp goes first (same round trip): the sweep leaves a freshly stamped list alone.
        pipe = client.pipeline(transaction=False)
        pipe.zadd(TAKEN_AT, {message_id: time.time()})
        pipe.lrange(taken, 0, -1)
        sources = [_text(s) for s in pipe.execute()[1]]  # left over by a killed run
        partial = False
        if not sources:
            pipe = client.pipeline(transaction=False)
            for _ in range(BATCH):
                pipe.lmove(PENDING, taken, "LEFT", "RIGHT")
            sources = [_text(s) for s in pipe.execute() if s is not None]
            partial = len(sources) < BATCH
        if not sources:
            client.zrem(TAKEN_AT, message_id)
            return done
        # One batch: a few statements for all of them, one router call per task (a no-op
        # task's description and result: one call). A source pushed twice is indexed once.
        batch = list(dict.fromkeys(sources))
        # The batch's router calls (one per task) confirm the cached provider rows with one
        # version read between them, not one each (apps/providers/config.py).
        with provider_config.version_pinned():
            _index_batch(batch)
        done += len(batch)
        pipe = client.pipeline(transaction=False)
        pipe.delete(taken)
        pipe.zrem(TAKEN_AT, message_id)
        pipe.execute()
        if partial:
            # The queue ran dry: what was pushed while this batch ran is left for the drain the
            # first such push scheduled AMAS_INDEX_DELAY_SECONDS later, so it gathers a batch.
            # Taking it now meant, under steady load, batch after batch of a few sources, each
            # paying a batch's fixed statements and Redis trips (bench/index_drain.py: ~7 ms of
            # CPU per task for one-task batches against <1 ms in batches of 50).
            _schedule_if_pending(client, countdown=settings.AMAS_INDEX_DELAY_SECONDS or None)
            return done
    _schedule_if_pending(client)
    return done


def sweep() -> bool:
    """Send a drain when sources wait and none is scheduled (run by beat). Closes a gap: a drain
    message lost after a push set SCHEDULED (a broker restart, a purge) left the sources waiting
    for the next push once SCHEDULED expired; now they wait at most until the next sweep after
    that. Also gives the sources of abandoned taken lists back to PENDING (see the module
    docstring). Returns whether a drain was sent."""
    client = redis_client()
    recover_abandoned(client)
    return _schedule_if_pending(client)


# KEYS: TAKEN_AT, PENDING; ARGV: the cut-off time, the TAKEN prefix. Atomic, so a drain's
# re-stamp (before it reads or fills its list) and this move never interleave.
_RECOVER = """
local moved = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local list = ARGV[2] .. id
  local sources = redis.call('LRANGE', list, 0, -1)
  for i = 1, #sources, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(sources, i, math.min(i + 999, #sources)))
  end
  moved = moved + #sources
  redis.call('DEL', list)
  redis.call('ZREM', KEYS[1], id)
end
return moved
"""


def taken_stale_seconds() -> float:
    """How old a drain's stamp must be before its taken list counts as abandoned."""
    from apps.knowledge.tasks import index_pending_task

    return float(index_pending_task.time_limit or 0) + TAKEN_MARGIN


def recover_abandoned(client: redis.Redis, *, older_than: float | None = None) -> int:
    """Move the sources of taken lists whose drain has not stamped them for `older_than` seconds
    (default: taken_stale_seconds()) back onto PENDING. Returns how many sources were moved."""
    age = taken_stale_seconds() if older_than is None else older_than
    moved = int(client.eval(_RECOVER, 2, TAKEN_AT, PENDING, time.time() - age, TAKEN))
    if moved:
        log.warning("Gave %d sources of abandoned index drains back to the queue", moved)
    return moved


def _schedule_if_pending(client: redis.Redis, *, countdown: float | None = None) -> bool:
    from apps.knowledge.tasks import index_pending_task

    if client.llen(PENDING) and client.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_TTL):
        index_pending_task.apply_async(queue=settings.AMAS_KNOWLEDGE_QUEUE, countdown=countdown)
        return True
    return False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _index_batch(sources: list[str]) -> None:
    """Index the sources together. Postgres or Redis away: raise, so the message is retried and
    finds its taken list again. Any other database error concerns some source, not the batch (a
    row deleted under a foreign key, another drain writing the same passage first): the sources
    are then indexed one by one, so one that fails again holds up none of the others."""
    from django.db import DatabaseError, InterfaceError, OperationalError

    from apps.knowledge import indexing

    try:
        indexing.sources_index(sources)
    except (OperationalError, InterfaceError, redis.RedisError):
        raise
    except DatabaseError:
        log.warning("Indexing %d sources together failed; one by one now", len(sources), exc_info=True)
        for source in sources:
            _index_one(source)


def _index_one(source: str) -> None:
    """Index one source. Postgres or Redis away: raise (as above). Anything else concerns this
    source only: logged, and the others go on."""
    from django.db import DatabaseError, InterfaceError, OperationalError

    from apps.knowledge import indexing

    try:
        indexing.sources_index([source])
    except (OperationalError, InterfaceError, redis.RedisError):
        raise
    except DatabaseError:
        log.exception("Could not index %s", source)
