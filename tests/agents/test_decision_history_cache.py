"""The decision engine reads agent history through the tasks app's reader: one query for every
candidate, the latest `window` outcomes each, and a cache that a new Result invalidates (at the
latest AMAS_DECISION_HISTORY_REFRESH_SECONDS after it commits). The worker's own Result write is
covered in tests/tasks/test_decision_history_worker.py."""

import random
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.agents.planner import plan_for_task
from apps.core.config_cache import config_version_pinned
from apps.core.vocabulary import task_types
from tests.agents import sim_agents
from tests.agents.conftest import only_agents
from tests.tasks.factories import make_task, record_result

pytestmark = pytest.mark.django_db


class NicheGood(sim_agents.GoodAgent):
    """The sim agents on a task type of their own, so no other test's cached history applies."""

    type = "niche_good"
    task_types = frozenset({"niche_history"})


class NichePoor(sim_agents.PoorAgent):
    type = "niche_poor"
    task_types = frozenset({"niche_history"})


@pytest.fixture(autouse=True)
def niche_agents():
    with only_agents(NicheGood, NichePoor):
        yield


def stats(task):
    explained = plan_for_task(task, rng=random.Random(1)).explanation
    return {c["agent"]: c["stats"] for c in explained["candidates"]}


def result_queries(captured):
    return [q["sql"] for q in captured.captured_queries if '"tasks_result"' in q["sql"]]


def test_each_candidate_sees_its_latest_outcomes_within_the_window(organization, settings):
    settings.AMAS_DECISION_WINDOW = 3
    assert "niche_history" in task_types
    task = make_task(organization, task_type="niche_history")
    for ok in (True, True, True, False, False):  # oldest first: only the last three count
        record_result(task, agent_type="niche_good", ok=ok, ms=100)
    record_result(task, agent_type="niche_poor", ok=False, ms=900, cost=0.5)

    with CaptureQueriesContext(connection) as captured:
        seen = stats(task)
    assert (seen["niche_good"]["successes"], seen["niche_good"]["failures"]) == (1, 2)
    assert (seen["niche_poor"]["successes"], seen["niche_poor"]["failures"]) == (0, 1)
    assert seen["niche_poor"]["mean_cost"] == 0.5
    assert len(result_queries(captured)) == 1, "one query for every candidate's history"


def test_the_cache_serves_repeat_decisions_until_a_result_is_written(organization, settings):
    settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30
    settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = 0
    task = make_task(organization, task_type="niche_history")
    record_result(task, agent_type="niche_good", ok=True)
    assert stats(task)["niche_good"]["samples"] == 1

    with CaptureQueriesContext(connection) as captured:
        assert stats(task)["niche_good"]["samples"] == 1
    assert result_queries(captured) == [], "the second decision reads the cached history"

    record_result(task, agent_type="niche_good", ok=False)
    again = stats(task)["niche_good"]
    assert (again["successes"], again["failures"]) == (1, 1), "a new result invalidates the cache"


def test_after_a_result_the_cached_history_is_reused_at_most_the_refresh_interval(organization, settings):
    settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30
    settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = 3600
    settings.AMAS_DECISION_WINDOW = 7  # a cache key of its own: earlier tests' entries live in Redis
    task = make_task(organization, task_type="niche_history")
    record_result(task, agent_type="niche_good", ok=True)
    assert stats(task)["niche_good"]["samples"] == 1

    record_result(task, agent_type="niche_good", ok=False)
    with CaptureQueriesContext(connection) as captured:
        assert stats(task)["niche_good"]["samples"] == 1, "within the interval the entry is reused"
    assert result_queries(captured) == []

    settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = 0.2
    time.sleep(0.3)  # the entry's read began more than the interval ago
    again = stats(task)["niche_good"]
    assert (again["successes"], again["failures"]) == (1, 1), "past the interval it is read again"


def test_a_submission_reads_the_history_version_with_the_configuration_version(organization, settings):
    """Task submission pins the configuration version and reads the history's version with it;
    each process then reuses its own copy of the entry while that version is unchanged."""
    settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30
    settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = 0
    settings.AMAS_DECISION_WINDOW = 8  # a cache key of its own
    task = make_task(organization, task_type="niche_history")
    record_result(task, agent_type="niche_good", ok=True)
    with config_version_pinned():
        assert stats(task)["niche_good"]["samples"] == 1
    with config_version_pinned(), CaptureQueriesContext(connection) as captured:
        assert stats(task)["niche_good"]["samples"] == 1
    assert result_queries(captured) == [], "the process's copy serves an unchanged version"

    record_result(task, agent_type="niche_good", ok=False)
    with config_version_pinned():
        again = stats(task)["niche_good"]
    assert (again["successes"], again["failures"]) == (1, 1), "a submission after a result sees it"
