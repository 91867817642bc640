"""Structured logs: JSON records carry request id, user, task and step, and the context travels
from the web request that created a task to the worker process that runs its steps."""

import io
import json
import logging
from http import HTTPStatus

import pytest

from apps.core import logging as amas_logging
from tests.ops.conftest import start_worker, stop, wait_for_task


def _record(message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("amas.test", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_bound_context():
    handler = logging.StreamHandler(stream := io.StringIO())
    handler.addFilter(amas_logging.ContextFilter())
    handler.setFormatter(amas_logging.JsonFormatter())
    logger = logging.getLogger("amas.test.json")
    logger.addHandler(handler)
    try:
        with amas_logging.bound(task_id="t-1", step_id=7, user=42, request_id="req-abc"):
            logger.warning("step %s slow", 7, extra={"elapsed_ms": 1234})
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "step 7 slow"
    assert inside["level"] == "warning"
    assert (inside["request_id"], inside["user"], inside["task_id"], inside["step_id"]) == (
        "req-abc",
        "42",
        "t-1",
        "7",
    )
    assert inside["elapsed_ms"] == 1234
    assert "task_id" not in outside


def test_console_format_is_one_readable_line():
    formatter = amas_logging.ConsoleFormatter()
    line = formatter.format(_record("hello", request_id="r1", task_id="t1", step_id="", user=""))
    assert line.endswith("INFO    amas.test [req=r1 task=t1] hello")


@pytest.mark.django_db(transaction=True)
def test_request_context_reaches_the_worker_process(client, analyst):
    client.force_login(analyst)
    worker = start_worker("ops-a,default", "ops-logs", capture=True, AMAS_LOG_FORMAT="json", LOG_LEVEL="INFO")
    try:
        response = client.post(
            "/api/v1/tasks",
            {"title": "logs", "task_type": "custom", "target": "example.org", "agents": ["test_ops_a"]},
            content_type="application/json",
            HTTP_X_REQUEST_ID="ops-request-0123456789",
        )
        assert response.status_code == HTTPStatus.CREATED, response.content
        assert response["X-Request-ID"] == "ops-request-0123456789"
        task = wait_for_task(response.json()["id"])
        assert task.status == "completed"
    finally:
        stop(worker)
    records = []
    for line in worker.stderr.read().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    agent_lines = [r for r in records if r.get("message", "").startswith("agent test_ops_a working")]
    assert agent_lines, records[-20:]
    line = agent_lines[0]
    step = task.steps.get(agent_type="test_ops_a")
    assert line["request_id"] == "ops-request-0123456789"
    assert line["task_id"] == str(task.id)
    assert line["step_id"] == str(step.id)
    assert line["user"] == str(analyst.pk)
