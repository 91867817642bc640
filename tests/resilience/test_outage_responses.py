"""Postgres or Redis unavailable: the API answers 503 with Retry-After and JSON naming the
dependency, dashboard pages a 503 page with a banner; never a 500, never a traceback (also with
DEBUG on); /ready says which dependency is down."""

import time
from http import HTTPStatus

import pytest
from django.test import Client, override_settings

from tests.resilience.outages import postgres_stopped, redis_frozen, redis_stopped

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client():
    """A client that shows the response Django sends, not the exception behind it."""
    return Client(raise_request_exception=False)


def assert_outage_json(response, dependency: str) -> None:
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.content[:500]
    assert response["Retry-After"].isdigit()
    body = response.json()
    assert body["dependency"] == dependency
    assert body["code"] == "dependency_unavailable"
    assert "Traceback" not in response.content.decode()


@pytest.mark.parametrize("debug", [False, True])
def test_api_answers_503_naming_postgres(client, analyst, debug):
    client.force_login(analyst)
    with override_settings(DEBUG=debug), postgres_stopped():
        response = client.get("/api/v1/tasks")
    assert_outage_json(response, "postgres")
    # and back once it is (after the short hold-down that spares requests the same timeouts)
    deadline = time.monotonic() + 30
    while (status := client.get("/api/v1/tasks").status_code) != HTTPStatus.OK:
        assert status == HTTPStatus.SERVICE_UNAVAILABLE and time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.parametrize("debug", [False, True])
def test_api_answers_503_naming_redis(client, analyst, debug):
    client.force_login(analyst)
    with override_settings(DEBUG=debug), redis_stopped():
        response = client.post(
            "/api/v1/tasks", {"title": "t", "task_type": "custom"}, content_type="application/json"
        )
    assert_outage_json(response, "redis")


def test_a_frozen_redis_is_a_503_too(client, analyst):
    client.force_login(analyst)
    with redis_frozen():
        response = client.get("/api/v1/tasks")
    assert_outage_json(response, "redis")


def test_dashboard_pages_show_a_banner(client, analyst):
    client.force_login(analyst)
    with override_settings(DEBUG=True), postgres_stopped():
        response = client.get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"].isdigit()
    page = response.content.decode()
    assert 'class="outage-banner"' in page and "PostgreSQL" in page
    assert "Traceback" not in page


def test_ready_names_the_dependency(client):
    with redis_stopped():
        response = client.get("/ready")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "redis" in response.json()["failed"]


def test_a_bug_is_still_a_500(client, analyst):
    """Everything is up: the middleware must not hide a real error behind a 503."""
    from apps.core.outage import probe

    assert probe() is None
