"""Websockets accept the session or an API token (query, header or subprotocol); a bad token
never falls back to the session."""

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import Client

from amas.asgi import application
from apps.users.models import Role
from apps.users.services import token_create, token_revoke
from apps.users.ws_auth import WebsocketAuthMiddlewareStack
from tests.users.factories import login

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
async def close_thread_connections():
    """Consumers and sync_to_async calls open connections in the executor thread; close them so
    the test database can be dropped at the end of the session.

    Each test also gets a channel layer of its own: the process-wide instance keeps receive state
    (its receive lock and loop) across the event loops of earlier tests, and in the full suite a
    refused socket's receive then never finished cancelling at loop teardown."""
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    await sync_to_async(connections.close_all)()


class ScopeEcho(AsyncJsonWebsocketConsumer):
    """Test harness: accepts, echoing the auth subprotocol, and reports what the middleware put
    into the scope."""

    async def connect(self):
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        user, token = self.scope["user"], self.scope["auth_token"]
        await self.send_json(
            {
                "user": user.email if user.is_authenticated else None,
                "token": token.prefix if token is not None else None,
            }
        )


async def _connect(path, *, headers=(), subprotocols=None, app=application):
    communicator = WebsocketCommunicator(app, path, headers=[ORIGIN, *headers], subprotocols=subprotocols)
    connected, detail = await communicator.connect()
    return communicator, connected, detail


def _session_cookie(user):
    client = login(Client(), user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_session_user_is_accepted(analyst):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_session_cookie)(analyst)
    communicator, connected, _ = await _connect("/ws/monitor/", headers=[cookie])
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.disconnect()


@pytest.mark.parametrize("how", ["query", "header"])
async def test_token_is_accepted(analyst, how):
    from asgiref.sync import sync_to_async

    issued = await sync_to_async(token_create)(user=analyst, name="ws", scopes=["tasks:read"])
    if how == "query":
        communicator, connected, _ = await _connect(f"/ws/monitor/?token={issued.secret}")
    else:
        communicator, connected, _ = await _connect(
            "/ws/monitor/", headers=[(b"authorization", f"Bearer {issued.secret}".encode())]
        )
    assert connected
    assert (await communicator.receive_json_from())["organization"] == analyst.organization_id
    await communicator.disconnect()


async def test_token_as_browser_subprotocol(analyst):
    from asgiref.sync import sync_to_async

    issued = await sync_to_async(token_create)(user=analyst, name="ws", scopes=["tasks:read"])
    app = WebsocketAuthMiddlewareStack(ScopeEcho.as_asgi())
    communicator, connected, subprotocol = await _connect(
        "/ws/echo/", subprotocols=["amas.bearer", issued.secret], app=app
    )
    assert connected and subprotocol == "amas.bearer"
    assert await communicator.receive_json_from() == {"user": analyst.email, "token": issued.token.prefix}
    await communicator.disconnect()


async def test_bad_or_revoked_token_is_refused_even_with_a_session(analyst):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_session_cookie)(analyst)
    communicator, connected, code = await _connect("/ws/monitor/?token=amas_00000000_bogus", headers=[cookie])
    assert not connected and code == 4401

    issued = await sync_to_async(token_create)(user=analyst, name="ws", scopes=["tasks:read"])
    await sync_to_async(token_revoke)(token=issued.token, by=analyst)
    communicator, connected, code = await _connect(f"/ws/monitor/?token={issued.secret}")
    assert not connected and code == 4401


async def test_user_who_must_set_up_mfa_gets_no_socket(user_factory):
    from asgiref.sync import sync_to_async

    admin = await sync_to_async(user_factory)(role=Role.ADMIN)

    def cookie():
        client = Client()
        client.get("/accounts/login/")
        client.post("/accounts/login/", {"login": admin.email, "password": "correct-horse-battery"})
        return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    communicator, connected, code = await _connect("/ws/monitor/", headers=[await sync_to_async(cookie)()])
    assert not connected and code == 4401
    await communicator.disconnect()  # end the refused consumer here, not at loop teardown
