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
statements whatever the number of sources, and one router call per task.

Poison sources. A batch that fails with anything but Postgres or Redis being away (or the
drain's own time limit) is indexed again one source at a time, so the others commit. A source
that fails on its own counts an attempt (`ATTEMPTS` + source, kept a day past the last failure)
and waits in `RETRY` until a sweep gives it back to PENDING (RETRY_DELAY after its first
failure, twice that after its second, ...: a storage blip outlasts no retry); after
AMAS_INDEX_MAX_ATTEMPTS failed attempts it goes to `DEAD` (source -> error text, time, attempts)
instead, is logged once at WARNING, counted (apps/knowledge/observability.py) and left alone
until an operator re-queues it (`manage.py index_dead`). Without this one such source failed its
whole drain, the sweep gave the taken list back ~7 minutes later, and it failed again, forever,
holding back the sources taken with it.

Taken lists left by drains from before the stamp existed have none, so the sweep would never
see them; at most once per `taken_stale_seconds` the sweep looks for taken lists (SCAN) and stamps
those without a stamp with the time it found them, so they are recovered one period later."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

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
RETRY = "amas:index:retry"  # sorted set: source -> when a sweep may re-queue it
# Seconds before a source's first retry, doubled for each further one: with 3 attempts a source
# is given up on ~3 minutes after its first failure, so an outage of something we do not treat
# as fatal (object storage) of a minute or two dead-letters nothing.
RETRY_DELAY = 60
ATTEMPTS = "amas:index:attempts:"  # + source: its failed attempts so far
ATTEMPTS_TTL = 86400  # a count a day old is forgotten (the source indexed since, or was re-pushed)
DEAD = "amas:index:dead"  # hash: source -> JSON {"error", "at", "attempts"}; never retried by itself
UNSTAMPED_SCANNED = "amas:index:unstamped-scanned"  # set while the last look for unstamped lists is recent
ERROR_CHARS = 500  # of the error text kept with a dead-lettered source


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
    unstamped_stamp(client)
    recover_abandoned(client)
    retries_release(client)
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

# KEYS: RETRY, PENDING; ARGV: now. The sources due for a retry go back onto PENDING, atomically
# (a source is never both waiting and pending, nor lost between the two).
_RELEASE = """
local sources = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for i = 1, #sources, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(sources, i, math.min(i + 999, #sources)))
  redis.call('ZREM', KEYS[1], unpack(sources, i, math.min(i + 999, #sources)))
end
return #sources
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


def unstamped_stamp(client: redis.Redis, *, force: bool = False) -> int:
    """Stamp taken lists that have no stamp (left by drains from before stamps existed) with now,
    so `recover_abandoned` gives them back one period later. A SCAN of the keyspace, so done at
    most once per taken_stale_seconds (a list found a period late is recovered a period late);
    `force` looks now. A list a live drain stamps meanwhile keeps its own stamp (NX); a stamp
    added for a list its drain deleted just after the SCAN is removed by the recovery that finds
    it empty. Returns how many lists were stamped."""
    if not force and not client.set(UNSTAMPED_SCANNED, 1, nx=True, ex=max(1, int(taken_stale_seconds()))):
        return 0
    ids = [_text(key)[len(TAKEN) :] for key in client.scan_iter(match=TAKEN + "*", count=1000)]
    if not ids:
        return 0
    now = time.time()
    stamped = int(client.zadd(TAKEN_AT, dict.fromkeys(ids, now), nx=True) or 0)
    if stamped:
        log.warning(
            "Found %d taken index lists without a stamp; they are given back in %.0f s",
            stamped,
            taken_stale_seconds(),
        )
    return stamped


def retries_release(client: redis.Redis, *, now: float | None = None) -> int:
    """Give the sources due for another attempt by `now` (default: now) back to PENDING.
    Returns how many."""
    return int(client.eval(_RELEASE, 2, RETRY, PENDING, time.time() if now is None else now))


def dead_letters(client: redis.Redis | None = None) -> dict[str, dict]:
    """The dead-lettered sources: source -> {"error", "at" (epoch seconds), "attempts"}."""
    client = client or redis_client()
    return {_text(k): json.loads(v) for k, v in client.hgetall(DEAD).items()}


def dead_requeue(sources: Iterable[str] | None = None) -> list[str]:
    """Put dead-lettered sources (all when `sources` is None) back onto PENDING with a fresh
    attempt count, and send a drain. Returns the sources re-queued (those that were dead)."""
    client = redis_client()
    wanted = [_text(s) for s in (client.hkeys(DEAD) if sources is None else sources)]
    if not wanted:
        return []
    pipe = client.pipeline(transaction=True)
    for source in wanted:
        pipe.hdel(DEAD, source)
    # HDEL answers 1 only once per source: two operators re-queueing at once push it once.
    requeued = [s for s, removed in zip(wanted, pipe.execute(), strict=True) if removed]
    if requeued:
        pipe = client.pipeline(transaction=True)
        pipe.delete(*(ATTEMPTS + s for s in requeued))
        pipe.rpush(PENDING, *requeued)
        pipe.execute()
        _schedule_if_pending(client)
    return requeued


def _schedule_if_pending(client: redis.Redis, *, countdown: float | None = None) -> bool:
    from apps.knowledge.tasks import index_pending_task

    if client.llen(PENDING) and client.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_TTL):
        index_pending_task.apply_async(queue=settings.AMAS_KNOWLEDGE_QUEUE, countdown=countdown)
        return True
    return False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fatal() -> tuple[type[BaseException], ...]:
    """Errors that concern the drain, not a source: Postgres or Redis away, the network (object
    storage unreachable included: an S3 outage must not dead-letter every source with a file),
    the drain's own soft time limit. They fail the drain (retried with its taken list intact)."""
    from botocore.exceptions import ConnectionError as StorageConnectionError  # type: ignore[import-untyped]
    from botocore.exceptions import HTTPClientError as StorageHTTPError
    from celery.exceptions import SoftTimeLimitExceeded
    from django.db import InterfaceError, OperationalError

    return (
        OperationalError,
        InterfaceError,
        redis.RedisError,
        ConnectionError,
        TimeoutError,
        StorageConnectionError,
        StorageHTTPError,
        SoftTimeLimitExceeded,
    )


def _index_batch(sources: list[str]) -> None:
    """Index the sources together. Postgres or Redis away: raise, so the message is retried and
    finds its taken list again. Any other error concerns some source, not the batch (a row
    deleted under a foreign key, another drain writing the same passage first, a file gone from
    storage): the sources are then indexed one by one, so one that fails again holds up none of
    the others."""
    from apps.knowledge import indexing

    try:
        indexing.sources_index(sources)
    except _fatal():
        raise
    except Exception as exc:
        if len(sources) == 1:
            _source_failed(sources[0], exc)
            return
        log.warning(
            "Indexing %d sources together failed (%s); one by one now", len(sources), type(exc).__name__
        )
        log.debug("The batch's error", exc_info=True)
        for source in sources:
            _index_one(source)


def _index_one(source: str) -> None:
    """Index one source. Postgres or Redis away: raise (as above). Anything else concerns this
    source only: counted against it (see the module docstring), and the others go on."""
    from apps.knowledge import indexing

    try:
        indexing.sources_index([source])
    except _fatal():
        raise
    except Exception as exc:
        _source_failed(source, exc)


def _source_failed(source: str, exc: Exception) -> None:
    """Count a failed attempt at `source`: retried by a later sweep, dead-lettered after
    AMAS_INDEX_MAX_ATTEMPTS. Logs name the source and the error's type only: an error's text may
    quote the document (it is kept with the dead letter, for the operator)."""
    from apps.knowledge import observability

    client = redis_client()
    limit = settings.AMAS_INDEX_MAX_ATTEMPTS
    pipe = client.pipeline(transaction=True)
    pipe.incr(ATTEMPTS + source)
    pipe.expire(ATTEMPTS + source, ATTEMPTS_TTL)
    attempts = int(pipe.execute()[0])
    log.debug("Indexing %s failed", source, exc_info=exc)
    if attempts < limit:
        client.zadd(RETRY, {source: time.time() + RETRY_DELAY * 2 ** (attempts - 1)})
        log.info(
            "Could not index %s (%s, attempt %d of %d); a sweep retries it later",
            source,
            type(exc).__name__,
            attempts,
            limit,
        )
        return
    error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    pipe = client.pipeline(transaction=True)
    pipe.hset(DEAD, source, json.dumps({"error": error, "at": time.time(), "attempts": attempts}))
    pipe.delete(ATTEMPTS + source)
    pipe.zrem(RETRY, source)
    pipe.execute()
    observability.INDEX_DEAD_LETTERED.inc()
    log.warning(
        "Index source %s dead-lettered after %d failed attempts (%s); see manage.py index_dead --list",
        source,
        attempts,
        type(exc).__name__,
    )
