"""Live progress over websockets: the real ASGI application, session auth, a real worker."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore

from amas.asgi import application
from tests.tasks.conftest import submit, wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie_for(user) -> bytes:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


def communicator(path: str, user=None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", session_cookie_for(user)))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_until(comm: WebsocketCommunicator, event_type: str, timeout: float = 30) -> list[dict]:
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            message = await comm.receive_json_from(timeout=timeout)
            messages.append(message)
            if message.get("type") == "event" and message["event"]["type"] == event_type:
                return messages


def test_snapshot_then_ordered_events_for_own_task(api, analyst, celery_worker):
    body = submit(api, agents=["test_slow"], parameters={"test_slow": {"seconds": 1.0}})

    async def scenario() -> list[dict]:
        comm = communicator(f"/ws/tasks/{body['id']}/", analyst)
        connected, _ = await comm.connect()
        assert connected
        try:
            return await receive_until(comm, "task.completed")
        finally:
            await comm.disconnect()

    messages = async_to_sync(scenario)()
    snapshot, events = messages[0], [m["event"] for m in messages[1:]]
    assert snapshot["type"] == "snapshot"
    assert snapshot["task"]["id"] == body["id"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seqs[0] == snapshot["task"]["seq"] + 1  # no gap between snapshot and stream
    assert "step.progress" in [e["type"] for e in events]
    task = wait_for_task(body["id"])
    assert events[-1]["seq"] == task.last_event_seq


def test_another_organisations_task_is_refused(api, user_factory, organization):
    from apps.users.services import organization_get_or_create

    body = submit(api, agents=["test_echo"])
    stranger = user_factory(org=organization_get_or_create(name="Elsewhere"))

    async def scenario() -> tuple:
        comm = communicator(f"/ws/tasks/{body['id']}/", stranger)
        result = await comm.connect()
        await comm.disconnect()
        return result

    connected, code = async_to_sync(scenario)()
    assert connected is False
    assert code == 4404


def test_anonymous_is_refused(api):
    body = submit(api, agents=["test_echo"])

    async def scenario() -> tuple:
        results = []
        for path in (f"/ws/tasks/{body['id']}/", "/ws/monitor/"):
            comm = communicator(path)
            results.append(await comm.connect())
            await comm.disconnect()
        return results

    for connected, code in async_to_sync(scenario)():
        assert connected is False
        assert code == 4401


def test_monitor_streams_own_organisation_only(api, analyst, user_factory, celery_worker):
    from apps.users.services import organization_get_or_create

    stranger = user_factory(org=organization_get_or_create(name="Elsewhere"))

    async def scenario() -> tuple[list[dict], list]:
        mine = communicator("/ws/monitor/", analyst)
        theirs = communicator("/ws/monitor/", stranger)
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        await mine.receive_json_from()
        await theirs.receive_json_from()
        body = await sync_to_async(submit)(api, agents=["test_echo"])
        try:
            messages = await receive_until(mine, "task.completed")
            leaked = await theirs.receive_nothing(timeout=0.5)
            return [m for m in messages if m["event"]["task_id"] == body["id"]], leaked
        finally:
            await mine.disconnect()
            await theirs.disconnect()

    messages, nothing_for_stranger = async_to_sync(scenario)()
    assert [m["event"]["type"] for m in messages][0] == "task.created"
    assert nothing_for_stranger is True


def test_token_sockets_need_the_tasks_read_scope(api, analyst):
    from apps.users.services import token_create

    body = submit(api, agents=["test_echo"])
    narrow = token_create(user=analyst, name="agents only", scopes=["agents:read"]).secret
    broad = token_create(user=analyst, name="tasks", scopes=["tasks:read"]).secret

    async def scenario() -> list:
        outcomes = []
        for secret in (narrow, broad):
            for path in (f"/ws/tasks/{body['id']}/?token={secret}", f"/ws/monitor/?token={secret}"):
                comm = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])
                outcomes.append(await comm.connect())
                await comm.disconnect()
        return outcomes

    outcomes = async_to_sync(scenario)()
    assert outcomes[:2] == [(False, 4403), (False, 4403)]
    assert [connected for connected, _ in outcomes[2:]] == [True, True]
