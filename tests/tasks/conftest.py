import time

import pytest
from django.test import override_settings

from apps.agents.registry import agent_registry
from apps.tasks.models import TERMINAL_STATUSES, Task
from tests.tasks import agents


@pytest.fixture(autouse=True)
def test_agents():
    with agent_registry.registered(*agents.ALL):
        yield


@pytest.fixture(autouse=True)
def fast_pipeline():
    with override_settings(
        AMAS_RETRY_BACKOFF_BASE=0.2, AMAS_STEP_POLL_SECONDS=0.05, AMAS_PROGRESS_MIN_INTERVAL=0
    ):
        yield


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    client.user = analyst
    return client


def wait_for_task(task_id, statuses=TERMINAL_STATUSES, timeout: float = 30.0) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = Task.objects.get(pk=task_id)
        if task.status in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task stayed {task.status}; expected one of {sorted(statuses)}")
        time.sleep(0.05)


def wait_for_step(task_id, status: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        step = Task.objects.get(pk=task_id).steps.filter(is_aggregate=False).first()
        if step is not None and step.status == status:
            return step
        if time.monotonic() > deadline:
            raise AssertionError(f"step stayed {step.status if step else None}; expected {status}")
        time.sleep(0.05)


def submit(api, **body):
    body.setdefault("title", "a task")
    body.setdefault("task_type", "custom")
    response = api.post("/api/v1/tasks", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()
