"""Websockets stay up while idle, and no event is lost to a Redis restart: a client that
reconnects with ?after=<last seq> gets what it missed (the events are in Postgres), and a ping
delivers events whose broadcast was dropped."""

import asyncio
import contextlib

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from apps.tasks.models import Task
from apps.tasks.services import task_cancel
from tests.resilience.outages import redis_stopped
from tests.tasks.conftest import submit
from tests.tasks.test_task_websocket import communicator

pytestmark = pytest.mark.django_db(transaction=True)


def queued_task(api) -> dict:
    # test_slow_killable's queue has no worker here: the task stays queued until we act.
    return submit(api, agents=["test_slow_killable"], parameters={"test_slow_killable": {"seconds": 1}})


def test_an_idle_socket_stays_open(api, analyst):
    """Longer than channels_redis's 5 s blocking pop, twice: the read timeout must not fire."""
    body = queued_task(api)

    async def scenario() -> dict:
        comm = communicator(f"/ws/tasks/{body['id']}/", analyst)
        connected, _ = await comm.connect()
        assert connected
        try:
            assert (await comm.receive_json_from(timeout=10))["type"] == "snapshot"
            await asyncio.sleep(12)
            assert await comm.receive_nothing(timeout=0.5)  # no close frame arrived meanwhile
            await comm.send_json_to({"type": "ping"})
            return await comm.receive_json_from(timeout=10)
        finally:
            await comm.disconnect()

    assert async_to_sync(scenario)()["type"] == "pong"


def test_a_client_resumes_after_a_redis_restart_without_losing_events(api, analyst):
    body = queued_task(api)
    path = f"/ws/tasks/{body['id']}/"

    async def first_connection() -> int:
        comm = communicator(path, analyst)
        connected, _ = await comm.connect()
        assert connected
        snapshot = await comm.receive_json_from(timeout=10)
        await comm.disconnect()
        return snapshot["task"]["seq"]

    last_seen = async_to_sync(first_connection)()

    # While Redis is down the task is cancelled: the event commits, its broadcast is lost.
    with redis_stopped():
        task = Task.objects.get(pk=body["id"])
        # (the after-commit cancel flag needs Redis too, and fails)
        with contextlib.suppress(Exception), transaction.atomic():
            task_cancel(task=task, by=analyst)
    task.refresh_from_db()
    assert task.status == "cancelled"
    last_seq = task.last_event_seq

    async def resumed() -> list[dict]:
        comm = communicator(f"{path}?after={last_seen}", analyst)
        connected, _ = await comm.connect()
        assert connected
        messages = []
        try:
            while not (messages and messages[-1].get("event", {}).get("seq") == last_seq):
                messages.append(await comm.receive_json_from(timeout=10))
        finally:
            await comm.disconnect()
        return messages

    messages = async_to_sync(resumed)()
    assert messages[0]["type"] == "snapshot" and messages[0]["task"]["status"] == "cancelled"
    replayed = [m["event"] for m in messages[1:]]
    assert all(m.get("replayed") for m in messages[1:])
    assert [e["seq"] for e in replayed] == list(range(last_seen + 1, last_seq + 1))
    assert "task.cancelled" in [e["type"] for e in replayed]


def test_a_ping_delivers_an_event_whose_broadcast_was_dropped(api, analyst):
    body = queued_task(api)

    async def scenario() -> list[dict]:
        comm = communicator(f"/ws/tasks/{body['id']}/", analyst)
        connected, _ = await comm.connect()
        assert connected
        try:
            snapshot = await comm.receive_json_from(timeout=10)
            # Commit an event whose broadcast never happens (what a failed after-commit send
            # leaves behind): the on_commit callbacks of this transaction are discarded.
            await sync_to_async(_cancel_without_after_commit)(body["id"], analyst)
            await comm.send_json_to({"type": "ping"})
            messages = [snapshot]
            while messages[-1].get("type") != "pong":
                messages.append(await comm.receive_json_from(timeout=10))
            return messages
        finally:
            await comm.disconnect()

    messages = async_to_sync(scenario)()
    events = [m["event"] for m in messages if m.get("type") == "event"]
    assert "task.cancelled" in [e["type"] for e in events]
    assert all(m.get("replayed") for m in messages if m.get("type") == "event")
    assert messages[-1]["seq"] == Task.objects.get(pk=body["id"]).last_event_seq


def _cancel_without_after_commit(task_id: str, user) -> None:
    with transaction.atomic():
        task_cancel(task=Task.objects.get(pk=task_id), by=user)
        transaction.get_connection().run_on_commit.clear()
