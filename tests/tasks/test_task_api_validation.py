"""Bad input gets a clear 4xx naming the problem, and nothing is written."""

from http import HTTPStatus

import pytest

from apps.tasks.models import Task, TaskEvent
from tests.tasks.conftest import submit

pytestmark = pytest.mark.django_db


def post(api, body, **extra):
    return api.post("/api/v1/tasks", body, content_type="application/json", **extra)


def assert_nothing_written():
    assert Task.objects.count() == 0
    assert TaskEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task_type": "custom", "agents": ["test_echo"]}, "title"),
        ({"title": "x", "task_type": "custom", "agents": ["test_echo"], "priority": 11}, "priority"),
        ({"title": "x", "task_type": "custom", "agents": ["test_echo"], "priority": 0}, "priority"),
        (
            {"title": "x", "task_type": "custom", "agents": ["test_echo"], "classification": "purple"},
            "classification",
        ),
        ({"title": "x", "task_type": "teleport"}, "task_type"),
    ],
)
def test_schema_errors_are_422_naming_the_field(api, body, field):
    response = post(api, body)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert field in response.json()["detail"]
    assert_nothing_written()


def test_unknown_agent_is_422(api):
    response = post(api, {"title": "x", "task_type": "custom", "agents": ["no_such_agent"]})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "no_such_agent" in response.json()["detail"]
    assert_nothing_written()


def test_bad_agent_parameters_are_422_naming_the_parameter(api):
    response = post(
        api,
        {
            "title": "x",
            "task_type": "custom",
            "agents": ["test_echo"],
            "parameters": {"test_echo": {"words": "many"}},
        },
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "parameters.test_echo.words" in response.json()["detail"]
    response = post(
        api,
        {
            "title": "x",
            "task_type": "custom",
            "agents": ["test_echo"],
            "parameters": {"test_echo": {"typo": 1}},
        },
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "parameters.test_echo.typo" in response.json()["detail"]
    assert_nothing_written()


def test_custom_task_without_agents_is_422(api):
    response = post(api, {"title": "x", "task_type": "custom"})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert_nothing_written()


def test_body_over_the_limit_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    settings.AMAS_MAX_BODY_BYTES = 2048
    response = post(
        api, {"title": "x", "task_type": "custom", "agents": ["test_echo"], "description": "y" * 5000}
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert_nothing_written()


def test_anonymous_is_401_and_viewer_is_403(client, user_factory):
    body = {"title": "x", "task_type": "custom", "agents": ["test_echo"]}
    assert client.post("/api/v1/tasks", body, content_type="application/json").status_code == 401
    client.force_login(user_factory(role="viewer"))
    assert client.post("/api/v1/tasks", body, content_type="application/json").status_code == 403
    assert_nothing_written()


def test_illegal_transitions_are_409(api):
    body = submit(api, agents=["test_echo"])
    # queued -> retry is not a legal transition
    response = api.post(f"/api/v1/tasks/{body['id']}/retry")
    assert response.status_code == HTTPStatus.CONFLICT
    assert "queued" in response.json()["detail"]
    assert api.post(f"/api/v1/tasks/{body['id']}/cancel").status_code == HTTPStatus.OK
    response = api.post(f"/api/v1/tasks/{body['id']}/cancel")
    assert response.status_code == HTTPStatus.CONFLICT
    assert Task.objects.get(pk=body["id"]).events.filter(type="task.cancelled").count() == 1


def test_foreign_task_is_404(api, user_factory):
    from apps.users.services import organization_get_or_create

    body = submit(api, agents=["test_echo"])
    api.force_login(user_factory(org=organization_get_or_create(name="Elsewhere")))
    for path in ("", "/events", "/results"):
        assert api.get(f"/api/v1/tasks/{body['id']}{path}").status_code == HTTPStatus.NOT_FOUND
    assert api.post(f"/api/v1/tasks/{body['id']}/cancel").status_code == HTTPStatus.NOT_FOUND
