"""Live investigation pages: /ws/investigations/<id>/ relays the events of its tasks and the
analysts' actions on it, as {"type": "event", "event": {...}} messages like the task socket, so
the dashboard's script re-renders the page's sections on each (amas:task-event).

Close codes as for tasks: 4401 not authenticated, 4403 not allowed, 4404 no such investigation
(for this user). Nothing is replayed: a page re-reads its timeline when the socket (re)opens."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.cases import realtime, selectors
from apps.core.exceptions import NotFound
from apps.tasks.realtime import task_group
from apps.users.member_sockets import MemberSocket
from apps.users.ws_auth import socket_refusal

MAX_TASK_GROUPS = 500  # the newest member tasks are followed live; older ones rarely change


def _refusal(scope: dict) -> int | None:
    """The close code for a socket that may not read tasks, or None when it may."""
    return socket_refusal(scope, needs="tasks:read")


class InvestigationConsumer(MemberSocket, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if code := _refusal(self.scope):
            await self.close(code=code)
            return
        investigation_id: UUID = self.scope["url_route"]["kwargs"]["investigation_id"]
        task_ids = await self._member_tasks(self.scope["user"], investigation_id)
        if task_ids is None:
            await self.close(code=4404)
            return
        self.groups_joined = [realtime.investigation_group(investigation_id)]
        self.groups_joined += [task_group(task_id) for task_id in task_ids]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.member_watch()
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        await self.send_json({"type": "hello", "investigation": str(investigation_id)})

    async def disconnect(self, code: int) -> None:
        await self.member_unwatch()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    @database_sync_to_async
    def _member_tasks(self, user: Any, investigation_id: UUID) -> list[str] | None:
        try:
            investigation = selectors.investigation_get(user=user, investigation_id=investigation_id)
        except NotFound:
            return None
        tasks = selectors.investigation_tasks(investigation=investigation).order_by("-created_at")
        return [str(pk) for pk in tasks.values_list("pk", flat=True)[:MAX_TASK_GROUPS]]

    async def task_event(self, message: dict) -> None:
        await self.send_json({"type": "event", "event": message["event"]})

    async def task_events(self, message: dict) -> None:
        for event in message["events"]:
            await self.send_json({"type": "event", "event": event})

    async def investigation_event(self, message: dict) -> None:
        entry = message["entry"]
        task_id = entry.get("task_id") or ""
        if entry["kind"] == "investigation.task_added" and task_id:
            # follow the new member's events from now on (the page re-reads what came before)
            group = task_group(task_id)
            if group not in self.groups_joined:
                self.groups_joined.append(group)
                await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json(
            {
                "type": "event",
                "event": {
                    "type": entry["kind"],
                    "task_id": task_id,
                    "created_at": entry.get("at", ""),
                    "payload": {"by": entry.get("actor") or ""},
                },
            }
        )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
