"""Workers reap expired leases themselves (no beat running): a step whose worker was killed with
SIGKILL is queued again and finished by another worker, once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from apps.tasks.models import Result, TaskStep
from tests.tasks.conftest import submit, wait_for_step, wait_for_task
from tests.tasks.replay_check import assert_replay_matches_rows
from tests.tasks.test_worker_killed import WORKER, database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def start_worker(name: str, *, reaper: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "AMAS_STEP_LEASE_SECONDS": "2",
        "AMAS_STEP_HEARTBEAT_SECONDS": "0.5",
        "AMAS_WORKER_REAPER": "1" if reaper else "0",
        "AMAS_REAPER_INTERVAL_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen([sys.executable, "-c", WORKER % name], cwd=ROOT, env=env)


def test_a_worker_reaps_the_step_of_a_killed_worker_without_beat(api):
    body = submit(
        api,
        agents=["test_slow_killable"],
        parameters={"test_slow_killable": {"seconds": 60, "seconds_after_first_attempt": 0.5}},
    )
    first = start_worker("doomed", reaper=False)
    second = None
    try:
        wait_for_step(body["id"], "running", timeout=60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        second = start_worker("survivor", reaper=True)
        task = wait_for_task(body["id"], timeout=90)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
    assert task.status == "completed"
    step = TaskStep.objects.get(task=task)
    assert step.attempt == 2
    assert "Worker lost" in str(task.events.filter(type="step.retrying").values_list("payload", flat=True)[0])
    assert Result.objects.filter(task=task).count() == 1
    assert_replay_matches_rows(task.id)
