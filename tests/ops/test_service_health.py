"""Service health: the dependency graph with each node's state and latency, checked in
dependency order; readiness false when a critical dependency (here: Redis) is down."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from amas.testing import services
from apps.users.services import token_create

pytestmark = pytest.mark.django_db


def nodes(body: dict) -> dict[str, dict]:
    return {n["name"]: n for n in body["nodes"]}


def beat_ran(seconds_ago: float) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(every=15, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name="reap-expired-steps",
        defaults={
            "task": "tasks.reap_steps",
            "interval": every,
            "last_run_at": timezone.now() - timedelta(seconds=seconds_ago),
        },
    )


@pytest.mark.django_db(transaction=True)
def test_everything_up_with_a_worker_and_beat(client, celery_worker):
    beat_ran(5)
    response = client.get("/health/services")
    body = response.json()
    assert response.status_code == HTTPStatus.OK, body
    graph = nodes(body)
    assert list(graph)[:4] == ["web", "postgres", "redis", "broker"]
    assert {"workers", "beat", "providers"} <= set(graph)
    for name in ("web", "postgres", "redis", "broker", "workers", "beat"):
        assert graph[name]["state"] == "up", graph[name]
        assert graph[name]["latency_ms"] >= 0
    assert graph["workers"]["depends_on"] == ["broker"]
    assert set(graph["workers"]["info"]["queues"]) >= {"default", "agents", "webhooks"}
    assert ["beat", "postgres"] in body["edges"]
    assert body["ready"] is True


def test_beat_that_stopped_running_is_down_but_not_critical(client):
    beat_ran(3600)
    body = client.get("/health/services").json()
    graph = nodes(body)
    assert graph["beat"]["state"] == "down"
    assert "last ran" in graph["beat"]["detail"]
    assert body["ready"] is True and body["status"] == "degraded"


def test_stopped_redis_is_down_and_readiness_false(client, analyst):
    token = token_create(user=analyst, name="cli", scopes=["tasks:read"]).secret
    stack = services.STACK
    assert stack is not None, "needs the session's own Redis"
    stack.redis.stop()
    try:
        # From outside the allowed networks, with an API token: still answers without Redis.
        response = client.get(
            "/health/services", REMOTE_ADDR="198.51.100.7", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        body = response.json()
    finally:
        stack.redis.start()
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, body
    assert body["ready"] is False and body["status"] == "down"
    graph = nodes(body)
    assert graph["redis"]["state"] == "down" and "Error" in graph["redis"]["detail"]
    assert graph["broker"]["state"] == "down"
    assert graph["postgres"]["state"] == "up"
    assert graph["workers"]["state"] == "down"
    assert "depends on broker" in graph["workers"]["detail"], "not checked behind a down dependency"
    assert client.get("/health/services").json()["nodes"][2]["state"] == "up"


def test_service_health_needs_a_credential(client):
    assert client.get("/health/services", REMOTE_ADDR="198.51.100.7").status_code == HTTPStatus.UNAUTHORIZED
    bad = client.get("/health/services", REMOTE_ADDR="198.51.100.7", HTTP_AUTHORIZATION="Bearer amas_x_y")
    assert bad.status_code == HTTPStatus.UNAUTHORIZED


def test_service_health_page_for_admins(client, user_factory, analyst):
    from apps.users.models import Role
    from tests.users.factories import enable_totp

    client.force_login(analyst)
    assert client.get("/ops/health").status_code == HTTPStatus.FORBIDDEN
    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    client.force_login(admin)
    response = client.get("/ops/health")
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE)
    assert b"Service health" in response.content and b"PostgreSQL" in response.content
