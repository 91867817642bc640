"""Websocket groups for tasks and the sends into them. Only services call this, after commit."""

import asyncio
from typing import Any

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

    async def send_all(layer: Any) -> None:
        # One message per group, so the groups may be sent to concurrently (the worker waits for
        # the slowest, not the sum); within a group the order is the message's.
        await asyncio.gather(*(layer.group_send(group, message) for group, message in sends))

    layer_run(send_all)
