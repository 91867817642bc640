"""A step the worker completes or fails reaches the decision engine's cached agent history. The worker
writes its Result with its own upsert (no post_save), so an events hook bumps the history's
version after the step's transaction commits; with the cache on, the next read sees the outcome."""

import time

import pytest

from apps.agents.history import agent_history
from apps.tasks.models import Task
from tests.tasks.conftest import submit, wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


def _worker_idle(timeout: float = 15.0) -> None:
    """The step's Celery task has returned, so its after-commit callbacks (the bump) have run;
    the task row alone turns completed at the commit, just before them."""
    from celery.worker import state

    deadline = time.monotonic() + timeout
    while (state.active_requests or state.reserved_requests) and time.monotonic() < deadline:
        time.sleep(0.05)


def _finished(api, agent: str = "test_echo", status: str = "completed") -> tuple[str, int | None]:
    task_id = submit(api, agents=[agent])["id"]
    assert wait_for_task(task_id).status == status
    _worker_idle()
    step = Task.objects.get(pk=task_id).steps.get(agent_type=agent)
    return step.agent_type, step.agent_config_id


def _outcomes(key: tuple[str, int | None], window: int) -> list:
    return agent_history().outcomes(task_type="custom", keys=[key], window=window)[key]


def test_the_next_history_read_sees_a_step_the_worker_completed(api, celery_worker, settings):
    settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30  # the cache on, as in production
    settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = 0  # the staleness bound: none
    window = settings.AMAS_DECISION_WINDOW
    key = _finished(api)
    assert [o.status for o in _outcomes(key, window)] == ["completed"]  # now cached

    assert _finished(api) == key
    assert [o.status for o in _outcomes(key, window)] == ["completed", "completed"], (
        "the worker's Result write must invalidate the cached history"
    )


def test_the_next_history_read_sees_a_step_that_failed(api, celery_worker, settings):
    """A failing agent's Result is written by step_fail, which runs no result hooks."""
    settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30
    settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = 0
    window = settings.AMAS_DECISION_WINDOW
    key = _finished(api, "test_broken", "failed")
    assert [o.status for o in _outcomes(key, window)] == ["failed"]

    assert _finished(api, "test_broken", "failed") == key
    assert [o.status for o in _outcomes(key, window)] == ["failed", "failed"], (
        "a failed step's Result must invalidate the cached history too"
    )
