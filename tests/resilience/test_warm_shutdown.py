"""Ctrl-C (SIGTERM to the supervisor) is a warm shutdown: the worker takes no new messages and
the step it is running finishes and is recorded before the stack stops."""

import signal
from pathlib import Path

import pytest

from apps.tasks.models import Result, Task, TaskStep
from apps.users.services import token_create
from tests.resilience.harness import Stack
from tests.resilience.test_faults import submit_long, wait_step_running

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_running_step_finishes_during_a_warm_shutdown(tmp_path: Path, analyst):
    token = token_create(user=analyst, name="load", scopes=["tasks:read", "tasks:write"]).secret
    stack = Stack(tmp_path)
    try:
        stack.start()
        task_id = submit_long(stack, token, seconds=3)
        waiting = submit_long(stack, token, seconds=3)  # queued behind it, or running beside it
        wait_step_running(task_id)
        stack.supervisor.send_signal(signal.SIGTERM)
        stack.supervisor.wait(timeout=60)
    finally:
        stack.stop()
    log = stack.log.read_text()
    assert "stopping worker (warm: running steps finish)" in log
    assert "worker did not stop in time" not in log
    task = Task.objects.get(pk=task_id)
    assert task.status == "completed"
    assert Result.objects.filter(task=task).count() == 1
    # The other task either finished too or is still queued for the next start: never half-run.
    other = TaskStep.objects.get(task_id=waiting)
    assert other.status in {"completed", "queued"}
