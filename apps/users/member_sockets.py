"""A deactivated member's open websockets close at once (new ones are refused by ws_auth), and so
do the sockets opened with an API token that is revoked.

Every consumer of an authenticated socket mixes in MemberSocket: it joins the member's group in
connect() (and, for a token socket, the token's group) and leaves them in disconnect();
members.member_deactivate and services.token_revoke ask the group to close after their
transaction commits. The channel layer is shared by every web process, so this reaches sockets
held by any process on any machine."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.realtime import layer_run

CLOSE_CODE = 4401  # as a refused socket: the credentials are no longer valid


def member_group(user_id: int) -> str:
    return f"member-{user_id}"


def token_group(token_id: int) -> str:
    """The sockets opened with one API token: a revoked token closes them (users.token_revoke)."""
    return f"api-token-{token_id}"


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
            token = self.scope.get("auth_token")
            if token is not None:
                self.token_group_name = token_group(token.pk)
                await self.channel_layer.group_add(self.token_group_name, self.channel_name)

    async def member_unwatch(self) -> None:
        for attribute in ("member_group_name", "token_group_name"):
            if name := getattr(self, attribute, None):
                await self.channel_layer.group_discard(name, self.channel_name)

    async def member_revoked(self, message: dict) -> None:
        await self.close(code=CLOSE_CODE)  # type: ignore[attr-defined]


def member_sockets_close_on_commit(user_id: int) -> None:
    """After the deactivation commits (a rolled-back one closes nothing). robust: a channel layer
    that is down must not turn a committed deactivation into an error (new sockets are refused)."""

    async def send(layer: Any) -> None:
        await layer.group_send(member_group(user_id), {"type": "member.revoked"})

    transaction.on_commit(lambda: layer_run(send), robust=True)


def token_sockets_close_on_commit(token_id: int) -> None:
    """As member_sockets_close_on_commit, for the sockets opened with one revoked token."""

    async def send(layer: Any) -> None:
        await layer.group_send(token_group(token_id), {"type": "member.revoked"})

    transaction.on_commit(lambda: layer_run(send), robust=True)
