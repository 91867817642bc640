"""/metrics: protected, Prometheus text format, and correct across processes (values live in
Redis, so increments made by two Celery worker subprocesses and this process add up)."""

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.test import override_settings

from amas.celery import app
from apps.core import metrics
from tests.ops.conftest import scrape, start_worker, stop, value, wait_for_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_metrics():
    metrics.reset()
    yield


def test_metrics_refuse_strangers(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith("Bearer")


@override_settings(AMAS_METRICS_TOKEN="scrape-secret", AMAS_METRICS_ALLOWED_NETWORKS=[])
def test_metrics_accept_the_operator_token(client):
    assert client.get("/metrics").status_code == HTTPStatus.UNAUTHORIZED  # loopback no longer allowed
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == HTTPStatus.UNAUTHORIZED
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    assert b"amas_metrics_store_up 1.0" in response.content


@override_settings(AMAS_METRICS_ALLOWED_NETWORKS=["10.20.0.0/16"])
def test_metrics_accept_allowed_networks(client):
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == HTTPStatus.OK
    assert client.get("/metrics", REMOTE_ADDR="10.21.3.4").status_code == HTTPStatus.UNAUTHORIZED


def test_api_requests_latency_and_errors_are_counted(client, analyst):
    client.force_login(analyst)
    assert client.get("/api/v1/tasks").status_code == HTTPStatus.OK
    assert (
        client.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000").status_code == HTTPStatus.NOT_FOUND
    )
    samples = scrape(client)
    route = "/api/v1/tasks/<task_id>"
    assert value(samples, "amas_api_requests_total", method="GET", route="/api/v1/tasks", status="200") == 1
    assert value(samples, "amas_api_requests_total", method="GET", route=route, status="404") == 1
    assert value(samples, "amas_api_errors_total", method="GET", route=route, kind="client") == 1
    assert value(samples, "amas_api_latency_seconds_count", method="GET", route="/api/v1/tasks") == 1
    assert (
        value(samples, "amas_api_latency_seconds_bucket", method="GET", route="/api/v1/tasks", le="+Inf") == 1
    )


def test_provider_ledger_rows_become_provider_metrics(client):
    from apps.providers.models import ProviderCall

    ProviderCall.objects.create(
        provider_name="alpha", outcome="ok", latency_ms=120, tokens_in=10, tokens_out=5, cost=Decimal("0.002")
    )
    ProviderCall.objects.create(provider_name="alpha", outcome="error", latency_ms=3000, error="timeout")
    ProviderCall.objects.create(
        provider_name="beta",
        outcome="ok",
        latency_ms=80,
        attempts=[{"provider": "alpha", "error": "timeout"}, {"provider": "beta", "ok": True}],
    )
    samples = scrape(client)
    assert value(samples, "amas_ai_provider_calls_total", provider="alpha", status="ok") == 1
    assert value(samples, "amas_ai_provider_calls_total", provider="alpha", status="error") == 1
    assert value(samples, "amas_ai_provider_errors_total", provider="alpha") == 1
    assert value(samples, "amas_ai_provider_fallbacks_total", provider="beta") == 1
    assert value(samples, "amas_ai_provider_cost_usd_total", provider="alpha") == pytest.approx(0.002)
    assert value(samples, "amas_ai_provider_tokens_total", provider="alpha", direction="in") == 10
    assert value(samples, "amas_ai_provider_latency_seconds_count", provider="alpha") == 2
    assert value(samples, "amas_ai_provider_latency_seconds_bucket", provider="alpha", le="0.25") == 1


def test_queue_depth_counts_waiting_messages(client, settings):
    settings.AMAS_QUEUES = [*settings.AMAS_QUEUES, "ops-depth"]
    for priority in (0, 5, 9):
        app.send_task("core.noop", queue="ops-depth", priority=priority)
    try:
        samples = scrape(client)
        assert value(samples, "amas_queue_depth", queue="ops-depth") == 3
    finally:
        with app.connection_for_write() as conn:
            app.amqp.queues.select_add("ops-depth")
            conn.default_channel.queue_purge("ops-depth")
    assert value(scrape(client), "amas_queue_depth", queue="ops-depth") == 0


@pytest.mark.django_db(transaction=True)
def test_counts_from_two_worker_processes_add_up(client, analyst):
    client.force_login(analyst)
    first = start_worker("ops-a,default", "ops-first")
    second = start_worker("ops-b", "ops-second")
    try:
        ids = []
        for n in range(3):
            response = client.post(
                "/api/v1/tasks",
                {
                    "title": f"ops {n}",
                    "task_type": "custom",
                    "target": f"t{n}",
                    "agents": ["test_ops_a", "test_ops_b"],
                },
                content_type="application/json",
            )
            assert response.status_code == HTTPStatus.CREATED, response.content
            ids.append(response.json()["id"])
        for task_id in ids:
            assert wait_for_task(task_id).status == "completed"
    finally:
        stop(first)
        stop(second)

    samples = scrape(client)
    # Created here (the web side); each agent's steps only ran in the worker that consumes its queue.
    assert value(samples, "amas_tasks_created_total", task_type="custom") == 3
    assert value(samples, "amas_steps_total", agent="test_ops_a", status="completed") == 3
    assert value(samples, "amas_steps_total", agent="test_ops_b", status="completed") == 3
    assert value(samples, "amas_steps_total", agent="aggregator", status="completed") == 3
    assert value(samples, "amas_tasks_completed_total", status="completed") == 3
    assert value(samples, "amas_task_duration_seconds_count", status="completed") == 3
    # At least the 9 steps (stale messages of earlier tests in `default` may add skipped runs).
    assert value(samples, "amas_worker_tasks_total", task="tasks.run_step", state="success") >= 9


def test_breaker_state_per_enabled_provider(client):
    from apps.providers import breaker
    from apps.providers.models import Provider

    flaky = Provider.objects.create(name="flaky", kind="openai", enabled=True, base_url="http://127.0.0.1:9")
    try:
        for _ in range(10):
            breaker.record_failure(flaky.pk, "boom")
        samples = scrape(client)
        assert value(samples, "amas_ai_provider_breaker_state", provider="flaky") == 2
    finally:
        breaker.reset(flaky.pk)
