"""The order in which a step's events are broadcast (apps/tasks/execution.py): the step runner
holds its claim's events (task.started, step.started) until the agent passes FAST_AGENT_SECONDS
or the step ends; an agent's progress event waits for them. Read here as the channel layer
delivers them to a member of the organisation's monitor group, before any consumer's catch-up
from the event store could put them in order."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.tasks import execution
from apps.tasks.models import Task
from apps.tasks.realtime import monitor_group
from tests.tasks.conftest import submit, wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


def broadcast_events(api, organization_id, **body) -> tuple[str, list[dict]]:
    """Submit a task and return its events in the order the channel layer delivered them."""
    layer = get_channel_layer()
    group = monitor_group(organization_id)

    async def join() -> str:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return channel

    async def receive(channel: str, task_id: str) -> list[dict]:
        events: list[dict] = []
        async with asyncio.timeout(30):
            while True:
                message = await layer.receive(channel)
                batch = message["events"] if message["type"] == "task.events" else [message["event"]]
                events += [e for e in batch if e["task_id"] == task_id]
                if any(e["type"] == "task.completed" for e in events):
                    await layer.group_discard(group, channel)
                    return events

    channel = async_to_sync(join)()
    body = submit(api, **body)
    wait_for_task(body["id"])
    return body["id"], async_to_sync(receive)(channel, body["id"])


def assert_in_order(task_id: str, events: list[dict]) -> list[str]:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # in order, none missing
    assert seqs[-1] == Task.objects.get(pk=task_id).last_event_seq
    return [e["type"] for e in events]


def test_a_fast_agent_reporting_progress_has_its_events_broadcast_in_order(
    api, analyst, celery_worker, monkeypatch
):
    # A window the agent surely ends in: without the progress callback's wait, its event would
    # be broadcast before the held claim's.
    monkeypatch.setattr(execution, "FAST_AGENT_SECONDS", 1.0)
    task_id, events = broadcast_events(api, analyst.organization_id, agents=["test_echo"], target="a b")
    types = assert_in_order(task_id, events)
    assert types.index("task.started") < types.index("step.started") < types.index("step.progress")
    assert types.index("step.progress") < types.index("step.completed") < types.index("task.completed")


def test_a_slow_agent_has_its_start_broadcast_before_it_ends(api, analyst, celery_worker):
    task_id, events = broadcast_events(
        api, analyst.organization_id, agents=["test_slow"], parameters={"test_slow": {"seconds": 0.5}}
    )
    types = assert_in_order(task_id, events)
    assert types.index("step.started") < types.index("step.progress") < types.index("step.completed")
