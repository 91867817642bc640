"""The investigation page's websocket (/ws/investigations/<id>/) on the real ASGI application and
channel layer: an analyst's comment reaches a viewer watching the investigation, and a task
created inside it is followed from then on to its end (a real worker runs it)."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from apps.cases.services import comment_create, investigation_create, investigation_task_create
from apps.users.models import Role
from tests.tasks.test_task_websocket import communicator

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_until(comm, predicate, timeout: float = 60) -> list[dict]:
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            message = await comm.receive_json_from(timeout=timeout)
            messages.append(message)
            if predicate(message):
                return messages


def test_a_viewer_sees_comments_and_a_new_tasks_events_live(analyst, user_factory, celery_worker):
    viewer = user_factory(role=Role.VIEWER)
    case = investigation_create(user=analyst, title="live case")

    async def scenario() -> tuple[list[dict], str]:
        comm = communicator(f"/ws/investigations/{case.pk}/", viewer)
        connected, _ = await comm.connect()
        assert connected
        try:
            hello = await comm.receive_json_from(timeout=10)
            assert hello == {"type": "hello", "investigation": str(case.pk)}
            await sync_to_async(comment_create)(by=analyst, body="first look", investigation=case)
            messages = await receive_until(
                comm, lambda m: m.get("type") == "event" and m["event"]["type"] == "investigation.comment"
            )
            task = await sync_to_async(investigation_task_create)(
                investigation=case,
                by=analyst,
                title="slow one",
                task_type="custom",
                target="example.org",
                agents=["test_slow"],
                parameters={"test_slow": {"seconds": 1.0}},
            )
            messages += await receive_until(
                comm,
                lambda m: (
                    m.get("type") == "event"
                    and m["event"]["type"] == "task.completed"
                    and m["event"]["task_id"] == str(task.pk)
                ),
            )
            return messages, str(task.pk)
        finally:
            await comm.disconnect()

    messages, task_id = async_to_sync(scenario)()
    events = [m["event"] for m in messages if m.get("type") == "event"]
    comment = next(e for e in events if e["type"] == "investigation.comment")
    assert comment["payload"] == {"by": analyst.email}
    added = next(e for e in events if e["type"] == "investigation.task_added")
    assert added["task_id"] == task_id
    task_events = [e["type"] for e in events if e["task_id"] == task_id and "seq" in e]
    # joined on task_added: its step and end events arrive (what came before is read from the page)
    assert "step.completed" in task_events and task_events[-1] == "task.completed"


def test_another_organisation_and_anonymous_are_refused(analyst, user_factory):
    from apps.users.services import organization_get_or_create

    case = investigation_create(user=analyst, title="private")
    stranger = user_factory(org=organization_get_or_create(name="Elsewhere"))

    async def connect(user) -> tuple:
        comm = communicator(f"/ws/investigations/{case.pk}/", user)
        result = await comm.connect()
        await comm.disconnect()
        return result

    assert async_to_sync(connect)(stranger) == (False, 4404)
    assert async_to_sync(connect)(None) == (False, 4401)
