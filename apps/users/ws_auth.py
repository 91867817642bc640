"""Websocket authentication: the Django session (cookie), or an API token.

A token may come as `?token=<token>`, as an `Authorization: Bearer <token>` header (non-browser
clients), or, from browsers, as the subprotocol pair `["amas.bearer", "<token>"]`. In the last case
scope["auth_subprotocol"] is "amas.bearer" and the consumer must accept with
`await self.accept(subprotocol=self.scope.get("auth_subprotocol"))`.

The scope gets "user" (AnonymousUser when nothing valid was presented; a wrong token never falls
back to the session) and "auth_token" (the ApiToken, or None). Consumers authorise in connect(),
e.g. with apps.users.permissions.has_scope(user=scope["user"], token=scope["auth_token"], ...)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from apps.core.client_address import scope_client_address
from apps.users.permissions import has_scope

SUBPROTOCOL = "amas.bearer"


def _token_from_scope(scope: dict[str, Any]) -> tuple[str, str | None]:
    """(token, subprotocol to echo) or ("", None)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0], None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                return credential.strip(), None
    protocols = list(scope.get("subprotocols") or [])
    if SUBPROTOCOL in protocols:
        index = protocols.index(SUBPROTOCOL)
        if index + 1 < len(protocols):
            return protocols[index + 1], SUBPROTOCOL
    return "", None


@database_sync_to_async
def _authenticate_token(secret: str, ip: str) -> Any:
    from apps.users.services import token_authenticate

    return token_authenticate(secret=secret, ip=ip)


@database_sync_to_async
def _session_user_allowed(user: Any) -> bool:
    from apps.users.mfa import mfa_missing

    return not mfa_missing(user)


class TokenOrSessionMiddleware(BaseMiddleware):
    """Runs inside channels' AuthMiddlewareStack, so scope["user"] already holds the session's
    user; a presented token replaces it."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        scope = dict(scope)
        scope["auth_token"] = None
        scope["auth_subprotocol"] = None
        secret, subprotocol = _token_from_scope(scope)
        if secret:
            ip = scope_client_address(scope)
            token = await _authenticate_token(secret, ip)
            scope["user"] = token.user if token is not None else AnonymousUser()
            scope["auth_token"] = token
            scope["auth_subprotocol"] = subprotocol
        else:
            user = scope.get("user")
            if user is not None and user.is_authenticated and not await _session_user_allowed(user):
                # Users who must set up MFA get nothing until they have.
                scope["user"] = AnonymousUser()
        return await super().__call__(scope, receive, send)


def WebsocketAuthMiddlewareStack(inner: Any) -> Any:  # mirrors channels' AuthMiddlewareStack
    """Session or token authentication for websockets; consumers authorise in connect()."""
    return AuthMiddlewareStack(TokenOrSessionMiddleware(inner))


def socket_refusal(scope: dict[str, Any], *, needs: str) -> int | None:
    """The close code for a socket whose user may not use it, or None when they may: 4401 without
    valid credentials, 4403 without an organisation or without the `needs` scope (for a token,
    its scopes; for a session, the role's)."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return 4401
    if not user.organization_id or not has_scope(user=user, token=scope.get("auth_token"), scope=needs):
        return 4403
    return None
