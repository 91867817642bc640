"""Websocket groups for tasks and the sends into them. Only services call this, after commit."""

import asyncio
import os
import threading
import time
from typing import Any

import redis
from channels.layers import get_channel_layer

from apps.core.realtime import layer_run


def task_group(task_id: object) -> str:
    return f"task-{task_id}"


def monitor_group(organization_id: object) -> str:
    return f"monitor-org-{organization_id}"


def event_message(event: Any) -> dict[str, Any]:
    return {
        "task_id": str(event.task_id),
        "seq": event.seq,
        "type": event.type,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def events_broadcast(events: list[tuple[Any, Any]]) -> None:
    """Send (event, organization_id) pairs to their task group and organisation monitor group,
    in order, in one trip to the process's channel-layer loop. A transaction's events for one
    group go as one `task.events` message (a step's transaction appends two; each group_send
    costs channels-redis two Redis round trips before delivering), a single one as `task.event`.
    Every consumer of these groups handles both."""
    if not events:
        return
    by_group: dict[str, list[dict[str, Any]]] = {}
    for event, organization_id in events:
        message = event_message(event)
        by_group.setdefault(task_group(event.task_id), []).append(message)
        by_group.setdefault(monitor_group(organization_id), []).append(message)

    sends: list[tuple[str, dict[str, Any]]] = [
        (group, {"type": "task.event", "event": messages[0]})
        if len(messages) == 1
        else (group, {"type": "task.events", "events": messages})
        for group, messages in by_group.items()
    ]

    sends = _with_members(sends)
    if not sends:
        return

    async def send_all(layer: Any) -> None:
        # One message per group, so the groups may be sent to concurrently (the worker waits for
        # the slowest, not the sum); within a group the order is the message's.
        await asyncio.gather(*(layer.group_send(group, message) for group, message in sends))

    layer_run(send_all)


def _with_members(sends: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The sends whose group has a member. Most task and monitor groups have none (nobody
    watches), and for those a group_send costs two Redis round trips on the layer's loop thread
    that deliver nothing (ZREMRANGEBYSCORE, ZRANGE): here one pipelined round trip from this
    thread does the same expiry and counts the members of every group; groups with members go
    through group_send as before. Relies on channels-redis 4.3's group key and expiry (pinned);
    a sharded or sentinel layer is sent to as before."""
    layer = get_channel_layer()
    client = _layer_client(layer)
    if client is None:
        return sends
    oldest = int(time.time()) - layer.group_expiry
    pipe = client.pipeline(transaction=False)
    for group, _message in sends:
        key = layer._group_key(group)
        pipe.zremrangebyscore(key, min=0, max=oldest)
        pipe.zcard(key)
    counts = pipe.execute()[1::2]
    return [send for send, members in zip(sends, counts, strict=True) if members]


_clients: dict[int, tuple[Any, redis.Redis | None]] = {}  # pid -> (layer, its client)
_clients_lock = threading.Lock()


def _layer_client(layer: Any) -> redis.Redis | None:
    """A synchronous client of the layer's one Redis (per process: a forked worker makes its own)."""
    if layer is None or getattr(layer, "ring_size", 0) != 1 or not hasattr(layer, "_group_key"):
        return None
    pid = os.getpid()
    with _clients_lock:
        held = _clients.get(pid)
        if held is None or held[0] is not layer:
            host = dict(layer.hosts[0])
            address = host.pop("address", None)
            held = (layer, redis.Redis.from_url(address, **host) if address else None)
            _clients.clear()
            _clients[pid] = held
        return held[1]
