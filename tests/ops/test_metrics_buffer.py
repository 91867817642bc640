"""API request metrics are summed per process and sent to Redis by a background flush
(apps.core.metrics.record_later): counts of another web process arrive while it runs and when it
stops cleanly, and a flush that cannot reach Redis keeps its sums for the next one."""

import sys
import time
from http import HTTPStatus

import httpx
import pytest
from django.test import override_settings

from apps.core import metrics
from tests.live_daphne import daphne_serving
from tests.ops.conftest import scrape, value

pytestmark = pytest.mark.django_db(transaction=True)

DAPHNE = [sys.executable, "-m", "daphne", "amas.asgi:application"]


@pytest.fixture(autouse=True)
def fresh_metrics():
    metrics.reset()
    yield


def _unauthenticated_gets(url: str, count: int) -> None:
    with httpx.Client(base_url=url) as http:
        for _ in range(count):
            assert http.get("/api/v1/tasks").status_code == HTTPStatus.UNAUTHORIZED


def _counted(client) -> float:
    return value(scrape(client), "amas_api_requests_total", method="GET", route="/api/v1/tasks", status="401")


def test_another_process_sends_its_counts_while_it_runs(client, tmp_path, monkeypatch):
    monkeypatch.setenv("AMAS_METRICS_FLUSH_SECONDS", "0.2")
    with daphne_serving(DAPHNE, log_path=tmp_path / "daphne.log") as url:
        _unauthenticated_gets(url, 5)
        deadline = time.monotonic() + 30
        while _counted(client) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _counted(client) == 5  # no more: each request once
        latency = value(scrape(client), "amas_api_latency_seconds_count", method="GET", route="/api/v1/tasks")
        assert latency == 5


def test_a_clean_stop_sends_what_is_left(client, tmp_path, monkeypatch):
    monkeypatch.setenv("AMAS_METRICS_FLUSH_SECONDS", "3600")  # only the exit can send them
    with daphne_serving(DAPHNE, log_path=tmp_path / "daphne.log") as url:
        _unauthenticated_gets(url, 3)
        assert _counted(client) == 0  # still in that process's buffer
    # daphne_serving stopped it with SIGTERM and waited for it to exit.
    assert _counted(client) == 3


def test_a_flush_without_redis_keeps_the_sums(client):
    metrics.record_later(metrics.API_REQUESTS.increments(method="GET", route="/buffered", status="200"))
    metrics.record_later(metrics.API_REQUESTS.increments(method="GET", route="/buffered", status="200"))
    with override_settings(AMAS_METRICS_REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens there
        metrics.flush()  # fails quietly
    samples = scrape(client)  # the scrape flushes this process's buffer first
    assert value(samples, "amas_api_requests_total", method="GET", route="/buffered", status="200") == 2


def test_an_increment_redis_did_not_take_is_sent_by_the_next_flush(client):
    """A worker's step counters are sent at once; one Redis could not take (restarting, or slower
    than the metrics timeout under load) is kept and sent later, not dropped."""
    with override_settings(AMAS_METRICS_REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens there
        metrics.STEPS_FINISHED.inc(agent="kept", status="completed")
    samples = scrape(client)  # the scrape flushes this process's buffer first
    assert value(samples, "amas_steps_total", agent="kept", status="completed") == 1
