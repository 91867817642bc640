"""Websocket groups for tasks and the sends into them. Only services call this, after commit."""

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
    in order, in one trip to the process's channel-layer loop."""
    if not events:
        return

    async def send_all(layer: Any) -> None:
        for event, organization_id in events:
            message = {"type": "task.event", "event": event_message(event)}
            await layer.group_send(task_group(event.task_id), message)
            await layer.group_send(monitor_group(organization_id), message)

    layer_run(send_all)
