"""TaskDetailOut.of (the task answer built without validating field by field) says exactly what
validating the same task says, for a submitted task, a recurring definition and a task read back
with its steps; and the API's answers carry it."""

import json
from http import HTTPStatus

import pytest
from django.test import Client

from apps.tasks import selectors, services
from apps.tasks.schemas import TaskDetailOut
from apps.users.services import token_create

pytestmark = pytest.mark.django_db


def _same(task) -> dict:
    built = TaskDetailOut.of(task).model_dump()
    validated = TaskDetailOut.model_validate(task).model_dump()
    assert built == validated
    assert json.dumps(built, default=str) == json.dumps(validated, default=str)
    return built


def test_a_submitted_task_and_the_same_task_read_back(analyst):
    task = services.task_create(
        user=analyst,
        title="two agents",
        task_type="custom",
        target="example.org",
        agents=["osint", "security"],
        priority=7,
    )
    submitted = _same(task)
    assert submitted["steps"] and submitted["created_by"] == analyst.email
    read = _same(selectors.task_detail(user=analyst, task_id=task.id))
    assert read["steps"] == submitted["steps"]
    assert read["is_recurring"] is False


def test_a_recurring_definition(analyst):
    task = services.task_create(
        user=analyst, title="daily", task_type="custom", agents=["osint"], schedule={"every_seconds": 3600}
    )
    assert _same(task)["is_recurring"] is True
    assert _same(selectors.task_detail(user=analyst, task_id=task.id))["is_recurring"] is True


def test_a_task_without_loaded_steps_is_validated_as_before(analyst):
    task = services.task_create(user=analyst, title="t", task_type="custom", agents=["osint"])
    plain = type(task).objects.get(pk=task.pk)  # no api_steps: read through task.steps
    assert TaskDetailOut.of(plain).model_dump() == TaskDetailOut.model_validate(plain).model_dump()


def test_the_api_answers_with_it(analyst):
    secret = token_create(user=analyst, name="t", scopes=["tasks:read", "tasks:write"]).secret
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    created = client.post(
        "/api/v1/tasks",
        {"title": "t", "task_type": "custom", "agents": ["osint"]},
        content_type="application/json",
    )
    assert created.status_code == HTTPStatus.CREATED, created.content
    body = created.json()
    assert body["created_by"] == analyst.email and len(body["steps"]) >= 1
    read = client.get(f"/api/v1/tasks/{body['id']}")
    assert read.status_code == HTTPStatus.OK
    assert read.json() == body
