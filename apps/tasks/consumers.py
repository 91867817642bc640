"""Live task progress. Consumers authorise in connect(), send a snapshot, then relay events.

Close codes: 4401 not authenticated, 4403 not allowed, 4404 no such task (for this user).

No event is lost to a dropped connection or a dropped broadcast (Redis restarting, an after-commit
broadcast failing): events live in Postgres, so a client reconnecting with `?after=<last seq it
saw>` gets the ones it missed right after the snapshot, a gap in the live seq numbers is filled
from Postgres before the newer event is sent, and a client's ping also catches up."""

from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.exceptions import NotFound
from apps.tasks import realtime, selectors
from apps.users.member_sockets import MemberSocket
from apps.users.ws_auth import socket_refusal


def _refusal(scope: dict) -> int | None:
    """The close code for a socket that may not read tasks, or None when it may."""
    return socket_refusal(scope, needs="tasks:read")


class TaskConsumer(MemberSocket, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if code := _refusal(self.scope):
            await self.close(code=code)
            return
        user = self.scope["user"]
        task_id: UUID = self.scope["url_route"]["kwargs"]["task_id"]
        self.group = realtime.task_group(task_id)
        # Join before reading the snapshot, so nothing can fall between the two; events already
        # in the snapshot (seq <= snapshot seq) are dropped in task_event.
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await self._snapshot(user, task_id)
        if snapshot is None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=4404)
            return
        self.task_id = task_id
        self.last_seq = snapshot["seq"]
        await self.member_watch()
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        await self.send_json({"type": "snapshot", "task": snapshot})
        resume_after = _resume_after(self.scope)
        if resume_after is not None and resume_after < self.last_seq:
            for event in await self._events(after=resume_after, upto=self.last_seq):
                await self.send_json({"type": "event", "event": event, "replayed": True})

    async def disconnect(self, code: int) -> None:
        await self.member_unwatch()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    @database_sync_to_async
    def _snapshot(self, user: Any, task_id: UUID) -> dict | None:
        try:
            task = selectors.task_get(user=user, task_id=task_id)
        except NotFound:
            return None
        return selectors.task_snapshot(task=task)

    @database_sync_to_async
    def _events(self, *, after: int, upto: int | None = None) -> list[dict]:
        events = selectors.task_events_between(task_id=self.task_id, after_seq=after, upto_seq=upto)
        return [realtime.event_message(event) for event in events]

    async def _catch_up(self, upto: int | None = None) -> None:
        for event in await self._events(after=self.last_seq, upto=upto):
            self.last_seq = event["seq"]
            await self.send_json({"type": "event", "event": event, "replayed": True})

    async def task_event(self, message: dict) -> None:
        event = message["event"]
        if event["seq"] <= self.last_seq:
            return
        if event["seq"] > self.last_seq + 1:  # a broadcast in between was lost
            await self._catch_up(upto=event["seq"] - 1)
        self.last_seq = event["seq"]
        await self.send_json({"type": "event", "event": event})

    async def task_events(self, message: dict) -> None:
        """One transaction's events, in order (realtime.events_broadcast)."""
        for event in message["events"]:
            await self.task_event({"event": event})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients may only ping (which also delivers any event whose broadcast was lost);
        everything else goes through the REST API."""
        if isinstance(content, dict) and content.get("type") == "ping":
            await self._catch_up()
            await self.send_json({"type": "pong", "seq": self.last_seq})


def _resume_after(scope: dict) -> int | None:
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    try:
        return max(0, int(query["after"][0]))
    except (KeyError, IndexError, ValueError):
        return None


class MonitorConsumer(MemberSocket, AsyncJsonWebsocketConsumer):
    """Every event of the user's organisation."""

    async def connect(self) -> None:
        if code := _refusal(self.scope):
            await self.close(code=code)
            return
        user = self.scope["user"]
        self.group = realtime.monitor_group(user.organization_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.member_watch()
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        await self.send_json({"type": "hello", "organization": user.organization_id})

    async def disconnect(self, code: int) -> None:
        await self.member_unwatch()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def task_event(self, message: dict) -> None:
        await self.send_json({"type": "event", "event": message["event"]})

    async def task_events(self, message: dict) -> None:
        for event in message["events"]:
            await self.send_json({"type": "event", "event": event})
