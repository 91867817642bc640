"""The lost-message reaper and a real worker's prefetched message: a step message that a busy live
worker took (kombu's `unacked` hash) and holds for longer than AMAS_STEP_LOST_AFTER_SECONDS is not
sent again, while a message that vanished from the broker is; once that worker is killed, the
message it held is sent again instead of waiting for kombu's visibility timeout (an hour)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.test import override_settings

from apps.tasks import broker
from apps.tasks.models import TaskStep
from apps.tasks.reaper import steps_resend_lost
from tests.tasks import test_lost_step_messages as lost_messages
from tests.tasks.conftest import submit, wait_for_step
from tests.tasks.test_worker_killed import ROOT, database_url

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = lost_messages.QUEUE  # no other worker consumes it in these tests
LOST_AFTER = 1.0

# A prefork worker (as the Procfile runs them) with one process that takes two messages at a time:
# while its process runs one step, the next step's message waits in the worker, unacknowledged.
WORKER = """
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.tasks.agents import KillableSlowAgent
agent_registry.register(KillableSlowAgent)
from amas.celery import app
app.worker_main(["worker", "-Q", "killable", "-P", "prefork", "-c", "1", "--prefetch-multiplier", "2",
                 "-l", "WARNING", "--without-mingle", "--without-gossip", "-n", "prefetch-%s@%%h"])
"""


# the broker's killable queue and kombu's unacked keys emptied around each test
broker_client = lost_messages.broker_client


@pytest.fixture
def busy_worker():
    """A worker that is busy with a long step; killed with its pool process at the end (or by the
    test), so it never acknowledges or restores what it holds."""
    env = {**os.environ, "DATABASE_URL": database_url(), "AMAS_WORKER_REAPER": "0", "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER % os.getpid()], cwd=ROOT, env=env, start_new_session=True
    )
    yield worker
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def slow_step(api, seconds: float) -> str:
    return submit(
        api, agents=["test_slow_killable"], parameters={"test_slow_killable": {"seconds": seconds}}
    )["id"]


def unacked_ids(client) -> dict[str, float]:
    """Message id -> when a worker took it, from kombu's `unacked` hash and its index."""
    taken = {
        tag.decode(): score for tag, score in client.zrange(broker.UNACKED_INDEX, 0, -1, withscores=True)
    }
    return {
        json.loads(raw)[0]["headers"]["id"]: taken.get(tag.decode(), 0.0)
        for tag, raw in client.hgetall(broker.UNACKED).items()
    }


def prefetched_while_busy(api, client) -> TaskStep:
    """A long step running in the worker and a second step whose message the worker took while
    busy, held past LOST_AFTER; returns the second (still queued) step."""
    wait_for_step(slow_step(api, 120), "running", timeout=60)
    waiting = TaskStep.objects.get(task_id=slow_step(api, 1))
    deadline = time.monotonic() + 30
    while waiting.celery_task_id not in unacked_ids(client):
        assert time.monotonic() < deadline, "the worker never took the second message"
        time.sleep(0.1)
    while time.time() - unacked_ids(client)[waiting.celery_task_id] < LOST_AFTER + 0.5:
        time.sleep(0.1)
    waiting.refresh_from_db()
    assert waiting.status == "queued"  # taken, not started: its worker's only process is busy
    return waiting


@override_settings(AMAS_STEP_LOST_AFTER_SECONDS=LOST_AFTER)
def test_a_live_workers_prefetched_message_stays_and_a_vanished_one_is_sent_again(
    api, broker_client, busy_worker
):
    held = prefetched_while_busy(api, broker_client)
    # a third step's message stays in the queue (the worker holds two) and then vanishes, as in a
    # Redis restart without the last second of its append-only file
    vanished = TaskStep.objects.get(task_id=slow_step(api, 1))
    assert lost_messages.messages_in_queue(broker_client) == [vanished.celery_task_id]
    broker_client.delete(*broker._queue_keys([QUEUE]))
    time.sleep(LOST_AFTER + 0.2)

    assert steps_resend_lost() == 1
    held_before, vanished_before = held.celery_task_id, vanished.celery_task_id
    held.refresh_from_db()
    vanished.refresh_from_db()
    assert held.celery_task_id == held_before  # not sent again: the live worker still holds it
    assert held_before in unacked_ids(broker_client)
    assert vanished.celery_task_id != vanished_before
    assert lost_messages.messages_in_queue(broker_client) == [vanished.celery_task_id]
    assert busy_worker.poll() is None


@override_settings(AMAS_STEP_LOST_AFTER_SECONDS=LOST_AFTER)
def test_the_message_a_killed_worker_held_is_sent_again(api, broker_client, busy_worker):
    held = prefetched_while_busy(api, broker_client)
    os.killpg(busy_worker.pid, signal.SIGKILL)  # main process and pool process: nothing restored
    busy_worker.wait(timeout=10)
    assert held.celery_task_id in unacked_ids(broker_client)  # until the visibility timeout

    assert steps_resend_lost() == 1
    before = held.celery_task_id
    held.refresh_from_db()
    assert held.status == "queued" and held.celery_task_id != before
    assert lost_messages.messages_in_queue(broker_client) == [held.celery_task_id]
