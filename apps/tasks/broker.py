"""Which step messages the Celery broker (Redis) still holds, to find steps whose message is lost.

A queued step's message can vanish: it was sent while Redis was down (the after-commit send
failed), Redis restarted and lost the last second of its append-only file, or the worker holding
it was killed (its message then sits in kombu's `unacked` hash until the visibility timeout, an
hour). Rather than relaying every send through an outbox table in Postgres (one more write per
step on the hot path, and a relay process to keep alive), the reaper compares the few steps that
have been queued for a while against what the broker holds, which finds all three cases within
one reaper interval and costs nothing while work flows.

Layout (kombu's Redis transport, see CELERY_BROKER_TRANSPORT_OPTIONS): a list per queue and
priority step (`<queue>` for priority 0, `<queue>:<n>` otherwise) holding JSON messages, and the
`unacked` hash (delivery tag -> JSON [message, exchange, routing key]) of messages a worker took
but did not acknowledge yet, with `unacked_index` (delivery tag -> time taken).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings

UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"


def is_redis_broker() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://"))


def _client() -> Any:
    import redis

    timeout = settings.AMAS_REDIS_SOCKET_TIMEOUT
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=timeout, socket_timeout=timeout
    )


def _queue_keys(queues: Iterable[str]) -> list[str]:
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    sep = options.get("sep", ":")
    steps = options.get("priority_steps", [0])
    return [queue if not step else f"{queue}{sep}{step}" for queue in queues for step in steps]


def _eta(message: dict[str, Any]) -> float | None:
    eta = (message.get("headers") or {}).get("eta")
    if not eta:
        return None
    try:
        return datetime.fromisoformat(eta).timestamp()
    except ValueError:
        return None


# A queued message's id without decoding it: under a backlog the reaper reads every waiting
# message twice a pass, and json.loads of each was most of a worker main process's reaper CPU
# (a quarter of its CPU per task in bench/pipeline.py's 1,500-task run). The body is base64, so
# an unescaped `"id": "..."` key is a header (Celery's protocol 2 names no other key "id"; any
# extra match only adds an id that is not a step's). A message without one is decoded.
_ID = re.compile(rb'(?<!\\)"id"\s*:\s*"([^"\\]+)"')


def _queued_ids(raw: bytes | str) -> list[str]:
    if isinstance(raw, str):
        raw = raw.encode()
    found = [match.decode() for match in _ID.findall(raw)]
    if found:
        return found
    message_id = (json.loads(raw).get("headers") or {}).get("id")
    return [message_id] if message_id else []


def held_message_ids(queues: Iterable[str], *, reserved_for: float) -> set[str]:
    """Ids of step messages the broker will still deliver: waiting in a queue, or taken by a
    worker that is plausibly running it (taken less than `reserved_for` seconds ago, or due
    later because of a countdown). A message a worker took long ago and never acknowledged
    belongs to a dead worker: it is not counted, so its step is sent again."""
    keys = _queue_keys(queues)
    client = _client()
    try:
        # One MULTI/EXEC: a message moving from a queue list to `unacked` meanwhile is seen once.
        pipe = client.pipeline(transaction=True)
        for key in keys:
            pipe.lrange(key, 0, -1)
        pipe.hgetall(UNACKED)
        pipe.zrange(UNACKED_INDEX, 0, -1, withscores=True)
        replies = pipe.execute()
    finally:
        client.close()
    held: set[str] = set()
    for raw_messages in replies[: len(keys)]:
        for raw in raw_messages:
            held.update(_queued_ids(raw))
    taken_at = {tag.decode(): score for tag, score in replies[-1]}
    now = time.time()
    for tag, raw in replies[-2].items():
        message = json.loads(raw)[0]
        message_id = (message.get("headers") or {}).get("id")
        due = _eta(message) or taken_at.get(tag.decode(), 0.0)
        if message_id and now - due < reserved_for:
            held.add(message_id)
    return held
