"""Websocket groups for tasks and the sends into them. Only services call this, after commit."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


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


def event_broadcast(event: Any, organization_id: object) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "task.event", "event": event_message(event)}
    send = async_to_sync(layer.group_send)
    send(task_group(event.task_id), message)
    send(monitor_group(organization_id), message)
