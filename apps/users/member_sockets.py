"""A deactivated member's open websockets close at once (new ones are refused by ws_auth).

Every consumer of an authenticated socket mixes in MemberSocket: it joins the member's group in
connect() and leaves it in disconnect(); members.member_deactivate asks the group to close after
its transaction commits. The channel layer is shared by every web process, so this reaches sockets
held by any process on any machine."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.realtime import layer_run

CLOSE_CODE = 4401  # as a refused socket: the credentials are no longer valid


def member_group(user_id: int) -> str:
    return f"member-{user_id}"


class MemberSocket:
    """Mixin for AsyncWebsocketConsumer subclasses (uses their scope, channel layer and close)."""

    scope: Any
    channel_layer: Any
    channel_name: str

    async def member_watch(self) -> None:
        """Call in connect() once the user is known, before accepting."""
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            self.member_group_name = member_group(user.pk)
            await self.channel_layer.group_add(self.member_group_name, self.channel_name)

    async def member_unwatch(self) -> None:
        if name := getattr(self, "member_group_name", None):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def member_revoked(self, message: dict) -> None:
        await self.close(code=CLOSE_CODE)  # type: ignore[attr-defined]


def member_sockets_close_on_commit(user_id: int) -> None:
    """After the deactivation commits (a rolled-back one closes nothing). robust: a channel layer
    that is down must not turn a committed deactivation into an error (new sockets are refused)."""

    async def send(layer: Any) -> None:
        await layer.group_send(member_group(user_id), {"type": "member.revoked"})

    transaction.on_commit(lambda: layer_run(send), robust=True)
