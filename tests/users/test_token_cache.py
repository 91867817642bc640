"""API tokens are cached per process (apps/users/token_cache.py), yet a revocation, a
deactivation, a role change or a new MFA requirement made in one process holds at once in
another: the test process changes the database, a daphne process on the same database and
Redis answers. And a revoked token's open websockets close."""

import json
import sys
import urllib.error
import urllib.request

import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from amas.asgi import application
from apps.users.members import member_deactivate, member_set_role
from apps.users.models import Role
from apps.users.services import token_create, token_revoke
from tests.live_daphne import daphne_serving
from tests.users.factories import enable_totp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """A daphne process serving AMAS on the test database and Redis."""
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne_serving([sys.executable, "-m", "daphne", "amas.asgi:application"], log_path=log_path) as url:
        yield url


def _get(url: str, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _warm(url: str, secret: str) -> dict:
    """Two answers, so the server has the token cached (the second one comes from its cache)."""
    for _ in range(2):
        status, body = _get(url, secret)
        assert status == 200, body
    return body


@pytest.fixture
def admin_and_member(user_factory):
    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    member = user_factory(role=Role.ANALYST, org=admin.organization)
    return admin, member


def test_revocation_holds_in_another_process(server_url, admin_and_member):
    _, member = admin_and_member
    issued = token_create(user=member, name="cli", scopes=["tasks:read"])
    other = token_create(user=member, name="other", scopes=["tasks:read"])
    me = f"{server_url}/api/v1/me"
    _warm(me, issued.secret)
    _warm(me, other.secret)

    token_revoke(token=issued.token, by=member)

    assert _get(me, issued.secret)[0] == 401
    assert _get(me, other.secret)[0] == 200  # the member's other token is not affected


def test_deactivation_holds_in_another_process(server_url, admin_and_member):
    admin, member = admin_and_member
    secret = token_create(user=member, name="cli", scopes=["tasks:read"]).secret
    me = f"{server_url}/api/v1/me"
    _warm(me, secret)

    member_deactivate(member=member, by=admin)

    assert _get(me, secret)[0] == 401


def test_role_change_holds_in_another_process(server_url, admin_and_member):
    admin, member = admin_and_member
    secret = token_create(user=member, name="cli", scopes=["tasks:read"]).secret
    me = f"{server_url}/api/v1/me"
    assert _warm(me, secret)["role"] == Role.ANALYST

    member_set_role(member=member, role=Role.VIEWER, by=admin)

    status, body = _get(me, secret)
    assert (status, body["role"]) == (200, Role.VIEWER)


def test_mfa_requirement_holds_in_another_process(server_url, admin_and_member):
    """A promotion to admin makes MFA required: until the member sets it up, the token stops
    working. Removing an admin's second factor does the same."""
    admin, member = admin_and_member
    secret = token_create(user=member, name="cli", scopes=["tasks:read"]).secret
    me = f"{server_url}/api/v1/me"
    _warm(me, secret)

    member_set_role(member=member, role=Role.ADMIN, by=admin)
    assert _get(me, secret)[0] == 401

    enable_totp(member)
    _warm(me, secret)

    Authenticator.objects.filter(user=member).delete()
    assert _get(me, secret)[0] == 401


async def test_revoked_token_closes_its_sockets(user_factory):
    """A socket opened with a token closes (4401) when that token is revoked; the member's socket
    opened with another token stays open."""
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
    from django.db import connections

    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)

    def prepare():
        member = user_factory(role=Role.ANALYST)
        revoked = token_create(user=member, name="revoked", scopes=["tasks:read"])
        kept = token_create(user=member, name="kept", scopes=["tasks:read"])
        return member, revoked, kept

    member, revoked, kept = await sync_to_async(prepare)()
    sockets = []
    try:
        for issued in (revoked, kept):
            communicator = WebsocketCommunicator(
                application, f"/ws/monitor/?token={issued.secret}", headers=[(b"origin", b"http://localhost")]
            )
            connected, code = await communicator.connect()
            assert connected, code
            assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
            sockets.append(communicator)

        await sync_to_async(token_revoke)(token=revoked.token, by=member)

        closed = await sockets[0].receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": 4401}
        assert await sockets[1].receive_nothing(timeout=1)
    finally:
        for communicator in sockets:
            await communicator.disconnect()
        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
        await sync_to_async(connections.close_all)()
