"""A worker killed with SIGKILL mid-step: the lease expires, the reaper re-queues the step, a new
worker finishes it, and the task ends with exactly one Result per step."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from apps.tasks.models import Result, TaskStep
from apps.tasks.reaper import steps_reap
from tests.tasks.conftest import submit, wait_for_step, wait_for_task
from tests.tasks.replay_check import assert_replay_matches_rows

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.tasks.agents import KillableSlowAgent
agent_registry.register(KillableSlowAgent)
from amas.celery import app
app.worker_main(["worker", "-Q", "killable", "-P", "solo", "-l", "WARNING", "--without-mingle",
                 "--without-gossip", "-n", "killable-%s@%%h"])
"""


def database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:@/{s['NAME']}?host={s['HOST']}"


def start_worker(name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "AMAS_STEP_LEASE_SECONDS": "2",
        "AMAS_STEP_HEARTBEAT_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen([sys.executable, "-c", WORKER % name], cwd=ROOT, env=env)


def test_killed_worker_step_is_reaped_and_finished_once(api):
    body = submit(
        api,
        agents=["test_slow_killable"],
        parameters={"test_slow_killable": {"seconds": 60, "seconds_after_first_attempt": 0.5}},
    )
    first = start_worker("first")
    try:
        step = wait_for_step(body["id"], "running", timeout=60)
        assert step.attempt == 1
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

        # The beat job would do this every few seconds; here we run it once the lease expired.
        deadline = time.monotonic() + 15
        while steps_reap() == 0:
            assert time.monotonic() < deadline, "the lease never expired"
            time.sleep(0.2)
        step.refresh_from_db()
        assert step.status == "queued"
        assert "Worker lost" in step.error_message

        second = start_worker("second")
        try:
            task = wait_for_task(body["id"], timeout=60)
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()

    assert task.status == "completed"
    step = TaskStep.objects.get(task=task)
    assert step.attempt == 2
    assert Result.objects.filter(task=task).count() == 1
    assert Result.objects.get(task=task).data["attempt"] == 2
    assert "step.retrying" in list(task.events.values_list("type", flat=True))
    assert_replay_matches_rows(task.id)


def test_step_out_of_attempts_fails_with_a_clear_error(api):
    body = submit(api, agents=["test_slow_killable"], parameters={"test_slow_killable": {"seconds": 60}})
    TaskStep.objects.filter(task_id=body["id"]).update(max_attempts=1)
    worker = start_worker("only")
    try:
        wait_for_step(body["id"], "running", timeout=60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    deadline = time.monotonic() + 15
    while steps_reap() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    task = wait_for_task(body["id"], timeout=5)
    assert task.status == "failed"
    assert "Worker lost" in task.error_message and "Gave up after 1 attempts" in task.error_message
    assert_replay_matches_rows(task.id)
