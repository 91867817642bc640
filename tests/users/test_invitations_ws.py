"""A deactivated member's websockets are refused afterwards, by session cookie and by API token
(apps/users/members.py deactivates; apps/users/ws_auth.py and channels' session auth refuse)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from amas.asgi import application
from apps.users.members import member_deactivate
from apps.users.models import Role
from apps.users.services import token_create
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
async def close_thread_connections():
    """As in test_ws_auth.py: a channel layer per test, and the executor thread's connections
    closed so the test database can be dropped."""
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
    from django.db import connections

    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    yield
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    await sync_to_async(connections.close_all)()


async def _connect(path, headers=()):
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, *headers])
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_deactivated_member_gets_no_socket(user_factory):
    def prepare():
        admin = user_factory(role=Role.ADMIN)
        enable_totp(admin)
        member = user_factory(role=Role.ANALYST, org=admin.organization)
        secret = token_create(user=member, name="ws", scopes=["tasks:read"]).secret
        cookie = login(Client(), member).cookies["sessionid"].value
        return admin, member, secret, (b"cookie", f"sessionid={cookie}".encode())

    admin, member, secret, cookie = await sync_to_async(prepare)()
    for path, headers in (("/ws/monitor/", [cookie]), (f"/ws/monitor/?token={secret}", [])):
        communicator, connected, _ = await _connect(path, headers)
        assert connected, path  # works before
        await communicator.disconnect()

    await sync_to_async(member_deactivate)(member=member, by=admin)

    for path, headers in (("/ws/monitor/", [cookie]), (f"/ws/monitor/?token={secret}", [])):
        communicator, connected, code = await _connect(path, headers)
        assert not connected and code == 4401, (path, code)
        await communicator.disconnect()


async def test_deactivation_closes_the_member_s_open_sockets(user_factory):
    """Open sockets (monitor by cookie, a task by token) close with 4401 when the member is
    deactivated; a colleague's socket stays open."""
    from tests.tasks.factories import make_task

    def prepare():
        admin = user_factory(role=Role.ADMIN)
        enable_totp(admin)
        member = user_factory(role=Role.ANALYST, org=admin.organization)
        colleague = user_factory(role=Role.ANALYST, org=admin.organization)
        task = make_task(admin.organization, user=member)
        secret = token_create(user=member, name="ws", scopes=["tasks:read"]).secret
        cookie = login(Client(), member).cookies["sessionid"].value
        other = login(Client(), colleague).cookies["sessionid"].value
        return admin, member, task, secret, cookie, other

    admin, member, task, secret, cookie, other = await sync_to_async(prepare)()
    monitor, connected, _ = await _connect("/ws/monitor/", [(b"cookie", f"sessionid={cookie}".encode())])
    assert connected
    assert (await monitor.receive_json_from(timeout=10))["type"] == "hello"
    task_socket, connected, _ = await _connect(f"/ws/tasks/{task.pk}/?token={secret}")
    assert connected
    assert (await task_socket.receive_json_from(timeout=10))["type"] == "snapshot"
    bystander, connected, _ = await _connect("/ws/monitor/", [(b"cookie", f"sessionid={other}".encode())])
    assert connected
    await bystander.receive_json_from(timeout=10)

    await sync_to_async(member_deactivate)(member=member, by=admin)

    for socket in (monitor, task_socket):
        closed = await socket.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": 4401}
        await socket.disconnect()  # let the consumer finish (else the loop's teardown waits on it)
    assert await bystander.receive_nothing(timeout=1)
    await bystander.disconnect()
