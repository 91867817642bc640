"""Group names and sends for core realtime messages (see apps/tasks/realtime.py for tasks)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def ping_group(token: str) -> str:
    return f"ping-{token}"


def ping_broadcast(*, token: str, hostname: str) -> None:
    async_to_sync(get_channel_layer().group_send)(
        ping_group(token), {"type": "worker.ping", "token": token, "hostname": hostname}
    )
