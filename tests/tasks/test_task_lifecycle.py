"""A task through the API on a real worker, for each path it can take; for each, the state
rebuilt from events equals the rows."""

from http import HTTPStatus

import pytest

from apps.tasks.models import Result
from tests.tasks.conftest import submit, wait_for_step, wait_for_task
from tests.tasks.replay_check import assert_replay_matches_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_success(api, celery_worker):
    body = submit(
        api, agents=["test_echo"], target="alpha beta gamma delta", parameters={"test_echo": {"words": 2}}
    )
    assert body["status"] == "queued"
    task = wait_for_task(body["id"])
    assert task.status == "completed"
    assert task.progress == 100
    result = Result.objects.get(task=task)
    assert result.data["words"] == ["alpha", "beta"]
    assert task.summary["text"] == "echoed 2 words"
    events = [e["type"] for e in api.get(f"/api/v1/tasks/{task.id}/events").json()]
    assert events[0] == "task.created"
    assert events[1] == "task.queued"
    assert {"task.started", "step.started", "step.progress", "step.completed"} <= set(events)
    assert events[-1] == "task.completed"
    results = api.get(f"/api/v1/tasks/{task.id}/results").json()
    assert [r["agent"] for r in results] == ["test_echo"]
    assert results[0]["tokens_in"] == 3
    assert_replay_matches_rows(task.id)


def test_agent_exception_fails_the_task_with_the_error(api, celery_worker):
    body = submit(api, agents=["test_broken"])
    task = wait_for_task(body["id"])
    assert task.status == "failed"
    assert "the agent broke on purpose" in task.error_message
    step = task.steps.get()
    assert step.status == "failed"
    assert Result.objects.get(step=step).status == "failed"
    assert_replay_matches_rows(task.id)


def test_timeout(api, celery_worker):
    body = submit(api, agents=["test_stubborn"])
    task = wait_for_task(body["id"])
    assert task.status == "timed_out"
    assert "Timed out after 1s" in task.error_message
    assert task.steps.get().status == "timed_out"
    assert_replay_matches_rows(task.id)


def test_cancel_while_running(api, celery_worker):
    body = submit(api, agents=["test_slow"], parameters={"test_slow": {"seconds": 20}})
    wait_for_step(body["id"], "running")
    response = api.post(f"/api/v1/tasks/{body['id']}/cancel")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "cancelled"
    task = wait_for_task(body["id"])
    assert task.status == "cancelled"
    step = task.steps.get()
    assert step.status == "cancelled"
    assert not Result.objects.filter(task=task).exists()
    assert_replay_matches_rows(task.id)


def test_retryable_error_is_retried_with_backoff(api, celery_worker):
    body = submit(api, agents=["test_flaky"])
    task = wait_for_task(body["id"])
    assert task.status == "completed"
    step = task.steps.get()
    assert step.attempt == 2
    assert task.summary["text"] == "worked on attempt 2"
    assert "step.retrying" in [e.type for e in task.events.all()]
    assert_replay_matches_rows(task.id)


def test_retry_after_failure_runs_failed_steps_again(api, celery_worker):
    body = submit(api, agents=["test_echo", "test_broken"])
    task = wait_for_task(body["id"])
    assert task.status == "completed"  # partial success: one of two agents worked
    assert task.summary["steps_failed"] == 1
    failed = wait_for_task(submit(api, agents=["test_broken"])["id"])
    assert failed.status == "failed"

    response = api.post(f"/api/v1/tasks/{failed.id}/retry")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "queued"
    again = wait_for_task(failed.id)
    assert again.status == "failed"
    assert again.attempt == 1
    assert Result.objects.filter(task=again).count() == 1  # the retried step's result is replaced
    assert_replay_matches_rows(again.id)
    assert_replay_matches_rows(task.id)


def test_parallel_group_then_aggregation(api, celery_worker):
    body = submit(api, agents=["test_echo", "test_echo_two"], target="one two three")
    task = wait_for_task(body["id"])
    assert task.status == "completed"
    steps = list(task.steps.order_by("position"))
    assert [(s.agent_type, s.group_index, s.is_aggregate) for s in steps] == [
        ("test_echo", 0, False),
        ("test_echo_two", 0, False),
        ("aggregator", 1, True),
    ]
    aggregate = Result.objects.get(step=steps[2])
    assert aggregate.data["agents"] == ["test_echo", "test_echo_two"]
    assert aggregate.data["finding_count"] == 2
    assert task.summary["agent"] == "aggregator"
    assert "test_echo: echoed 3 words" in task.summary["text"]
    # the aggregation started only after both parallel steps finished
    assert steps[2].started_at >= max(steps[0].finished_at, steps[1].finished_at)
    assert_replay_matches_rows(task.id)
