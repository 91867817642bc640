"""Inputs that used to answer 500 or be accepted wrongly (issue 17's fuzz findings), each now a
4xx that names the problem: pagination bounds, UTC offsets PostgreSQL cannot store, control
characters, intervals and crontabs beat could not run, booleans posing as numbers, and JSON sent
under another content type."""

import json
from http import HTTPStatus

import pytest
from django.test import Client

from apps.tasks.models import Task
from apps.users.models import Role
from apps.users.permissions import user_scopes
from apps.users.services import token_create
from tests.users.factories import enable_totp

pytestmark = pytest.mark.django_db

TASK = {"title": "look", "task_type": "investigation", "target": "example.org"}


def org_admin(user_factory, org):
    admin = user_factory(role=Role.ADMIN, org=org)
    enable_totp(admin)  # admins must have a second factor before their tokens work
    return admin


def bearer(user) -> Client:
    secret = token_create(user=user, name="t", scopes=sorted(user_scopes(user))).secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def api(analyst):
    return bearer(analyst)


def post_task(api, **fields):
    return api.post("/api/v1/tasks", json.dumps({**TASK, **fields}), content_type="application/json")


def assert_names(response, status, field):
    assert response.status_code == status, response.content
    assert field in response.json()["detail"], response.json()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=-63251", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page=14574257771950683394670592", "page"),
        ("created_after=0633-03-13T18%3A38%3A53%2B19%3A46", "created_after"),
        ("created_before=2026-01-01T00%3A00%3A00-16%3A00", "created_before"),
        ("created_after=0001-01-01T00%3A00%3A00%2B01%3A00", "created_after"),
        ("q=abc%00def", "q"),
        ("agent=x%01", "agent"),
    ],
)
def test_bad_task_list_queries_are_422_naming_the_parameter(api, query, field):
    assert_names(api.get(f"/api/v1/tasks?{query}"), HTTPStatus.UNPROCESSABLE_ENTITY, field)


def test_the_largest_page_still_answers(api):
    response = api.get("/api/v1/tasks?page=1000000&page_size=100")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/stats/tasks?since=2026-01-01T00%3A00%3A00%2B23%3A00", "since"),
        ("/api/v1/search?q=a%00b", "q"),
        ("/api/v1/webhooks/deliveries?page_size=-1", "page_size"),
    ],
)
def test_other_queries_are_checked_the_same_way(analyst, user_factory, path, field):
    admin = org_admin(user_factory, analyst.organization)
    assert_names(bearer(admin).get(path), HTTPStatus.UNPROCESSABLE_ENTITY, field)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "a\x00b"}, "body.title"),
        ({"target": "example.org\x00"}, "body.target"),
        ({"description": "line\x1b[31m"}, "body.description"),
        ({"parameters": {"osint": {"note": "x\x00"}}}, "body.parameters.osint.note"),
        ({"schedule": {"crontab": "* * * * \x00"}}, "body.schedule.crontab"),
        ({"schedule": {"crontab": "a b c d e"}}, "crontab"),
        ({"schedule": {"crontab": "61 * * * *"}}, "crontab"),
        ({"schedule": {"crontab": "* * *"}}, "crontab"),
        ({"schedule": {"every_seconds": 10**20}}, "every_seconds"),
        ({"schedule": {"every_seconds": True}}, "every_seconds"),
        ({"priority": True}, "priority"),
        ({"priority": "5"}, "priority"),
    ],
)
def test_bad_task_bodies_are_422_naming_the_field_and_create_nothing(api, fields, field):
    assert_names(post_task(api, **fields), HTTPStatus.UNPROCESSABLE_ENTITY, field)
    assert not Task.objects.exists()


def test_text_and_newlines_are_still_ordinary_input(api):
    response = post_task(api, description="first line\n\tsecond line\r\n", priority=7)
    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["priority"] == 7


def test_a_crontab_beat_can_run_is_accepted(api, settings):
    response = post_task(api, schedule={"crontab": "0 12 * * mon-fri"})
    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["is_recurring"] is True


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_json_under_another_content_type_is_415(api, content_type):
    response = api.post("/api/v1/tasks", json.dumps(TASK), content_type=content_type)
    assert_names(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type")
    assert not Task.objects.exists()


def test_multipart_payload_is_screened_too(api):
    payload = json.dumps({**TASK, "title": "a\x00b"})
    response = api.post("/api/v1/tasks", {"payload": payload})  # multipart/form-data
    assert_names(response, HTTPStatus.UNPROCESSABLE_ENTITY, "payload.title")


def test_webhook_names_with_control_characters_are_422(analyst, user_factory):
    admin = bearer(org_admin(user_factory, analyst.organization))
    body = {"name": "hook\x00", "url": "https://hooks.example.org/x", "event_types": ["task.completed"]}
    response = admin.post("/api/v1/webhooks/endpoints", json.dumps(body), content_type="application/json")
    assert_names(response, HTTPStatus.UNPROCESSABLE_ENTITY, "body.name")


def test_webhook_active_must_be_a_boolean(analyst, user_factory):
    admin = bearer(org_admin(user_factory, analyst.organization))
    body = {"name": "hook", "url": "https://hooks.example.org/x", "event_types": ["task.completed"]}
    body["active"] = 1
    response = admin.post("/api/v1/webhooks/endpoints", json.dumps(body), content_type="application/json")
    assert_names(response, HTTPStatus.UNPROCESSABLE_ENTITY, "active")
