from http import HTTPStatus

import pytest

from amas.testing import services

pytestmark = pytest.mark.django_db


def test_health_is_alive(client):
    response = client.get("/health")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


def test_ready_reports_every_dependency_with_latency(client):
    response = client.get("/ready")
    body = response.json()
    assert response.status_code == HTTPStatus.OK, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"postgres", "redis", "broker"}  # neo4j/s3 not configured
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0


def test_ready_names_redis_when_it_is_down(client):
    stack = services.STACK
    assert stack is not None, "needs the session's own Redis"
    stack.redis.stop()
    try:
        response = client.get("/ready")
        body = response.json()
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "redis" in body["failed"]
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["postgres"]["ok"] is True
    finally:
        stack.redis.start()
    assert client.get("/ready").status_code == HTTPStatus.OK
