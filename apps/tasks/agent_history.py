"""The agent history the decision engine reads (apps.agents.history), from tasks' own rows: one
query for every candidate of a task type, cached briefly in Redis (shared by every process).
Registered in TasksConfig.ready().

The cache entry carries the version it was read under and when that read began. Every Result write
bumps the version after its transaction commits: the worker's write (an INSERT .. ON CONFLICT that
sends no post_save) through the events hook `history_events_committed` (its step event names the
result), ORM saves/deletes through `history_changed`. Between writes, decisions for the same task
type share one read.

Bounded cost: under load a Result commits between nearly every two submissions, so re-reading on
every bump would read the whole history per submission (~10 ms at 1,000 results of a type, ~90 ms
at 20,000). An entry whose version is outdated is therefore still used while its read began less
than AMAS_DECISION_HISTORY_REFRESH_SECONDS ago: at most one re-read per task type and window per
that interval (a few more when readers race at its end), and the staleness bound is exactly that
interval: an outcome committed at time t is in every decision that starts after
t + AMAS_DECISION_HISTORY_REFRESH_SECONDS (the read that built the entry began after t); for a task
submission "starts" is when its pinned configuration block began, which read the version. Without
writes an entry lives AMAS_DECISION_HISTORY_CACHE_SECONDS; 0 turns the cache off (read per decision).
Each process also keeps the entries it used (`_local`): same tags, same bound.
If a bump is lost (Redis down at that moment) the entry expires after that TTL at the latest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from apps.agents.history import FAILURE, SUCCESS, HistoryKey, Outcome
from apps.core.config_cache import pinned_companion
from apps.tasks.hooks import step_spend
from apps.tasks.models import Result, StepStatus, TaskStep

if TYPE_CHECKING:
    from apps.agents.base import AgentContext

VERSION_KEY = "agent-history:version"


def _version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(VERSION_KEY, version, timeout=None)
        version = cache.get(VERSION_KEY) or version
    return str(version)


def _bump() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def history_changed(**_: Any) -> None:
    """post_save/post_delete receiver for Result (ORM writes: admin, fixtures, tests)."""
    _bump()
    transaction.on_commit(_bump)


def history_events_committed(events: list[Any]) -> None:
    """Events hook (tasks.hooks), called once after a pipeline transaction commits. A step that
    ended wrote its Result with the worker's upsert, which sends no post_save (step_complete and
    step_fail; step_fail runs no result hooks), and its event names the result. Other processes
    can read the outcome only now, so the bump comes now (a bump before the commit would let a
    reader cache the old rows under the new version). One bump per transaction."""
    if any(isinstance(event.payload, dict) and "result_id" in event.payload for event in events):
        _bump()


def _read(task_type: str, window: int) -> dict[HistoryKey, list[Outcome]]:
    rows = list(
        Result.objects.filter(task__task_type=task_type, status__in=(SUCCESS, *FAILURE))
        .annotate(
            config_id=F("step__agent_config_id"),
            recency=Window(
                RowNumber(),
                partition_by=[F("agent"), F("step__agent_config_id")],
                order_by=[F("created_at").desc(), F("step_id").desc()],
            ),
        )
        .filter(recency__lte=window)
        .order_by("created_at", "step_id")
        .values_list("agent", "config_id", "status", "processing_time_ms", "cost", "step_id")
    )
    # A step's cost: what the agent reported, or what the provider ledger recorded for the step when
    # that is more (agents need not copy their AI spend into their result); never the sum of both.
    ledger = step_spend([row[-1] for row in rows])
    out: dict[HistoryKey, list[Outcome]] = {}
    for agent, config_id, status, ms, cost, step_id in rows:
        out.setdefault((agent, config_id), []).append(
            Outcome(status, int(ms), max(float(cost), ledger.get(step_id, 0.0)))
        )
    return out


def _fresh_enough(entry: Any, version: str) -> dict[HistoryKey, list[Outcome]] | None:
    """The entry's history if it was read under `version`, or its read began less than the refresh
    interval ago (the staleness bound, see the module docstring); None: read again."""
    if not isinstance(entry, tuple) or len(entry) != 3:  # missing, or an older process's format
        return None
    entry_version, began, history = entry
    if entry_version == version:
        return history
    if time.time() - began < settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS:
        return history
    return None


# This process's copy of the entries it used last, so that a submission whose pinned block already
# read the version (a companion of the configuration version) needs no Redis round trip and no
# unpickling while the version is unchanged. Same tags, same bound as the shared entry.
_local: dict[str, tuple[str, float, dict[HistoryKey, list[Outcome]]]] = {}


def _cached(task_type: str, window: int) -> dict[HistoryKey, list[Outcome]]:
    ttl = settings.AMAS_DECISION_HISTORY_CACHE_SECONDS
    cache_key = f"agent-history:{task_type}:{window}"
    fetched, version = pinned_companion(VERSION_KEY)
    if fetched:  # a task submission: the version came with the configuration version
        local = _local.get(cache_key)
        # The local copy ages out with the shared entry's TTL (a lost bump is bounded by it too).
        if local is not None and version is not None and time.time() - local[1] < ttl:
            history = _fresh_enough(local, version)
            if history is not None:
                return history
        entry = cache.get(cache_key)
    else:
        # One round trip: the version and the entry, which carries the version it was read
        # under (a key named by the version needed the version first: two round trips).
        found = cache.get_many([VERSION_KEY, cache_key])
        version = found.get(VERSION_KEY)
        entry = found.get(cache_key)
    if version is None:
        version = _version()
    history = _fresh_enough(entry, version)
    if history is None:
        began = time.time()  # before the query: the entry holds all committed by then
        history = _read(task_type, window)
        entry = (version, began, history)
        cache.set(cache_key, entry, timeout=ttl)
    _local[cache_key] = entry
    return history


class TaskAgentHistory:
    def outcomes(
        self, *, task_type: str, keys: Iterable[HistoryKey], window: int
    ) -> dict[HistoryKey, list[Outcome]]:
        if settings.AMAS_DECISION_HISTORY_CACHE_SECONDS > 0:
            history = _cached(task_type, window)
        else:
            history = _read(task_type, window)
        return {key: history.get(key, []) for key in keys}

    def running_steps(self, *, config_ids: list[int]) -> dict[int, int]:
        running: dict[int, int] = {}
        for config_id in TaskStep.objects.filter(
            agent_config_id__in=config_ids, status=StepStatus.RUNNING
        ).values_list("agent_config_id", flat=True):
            if config_id is not None:  # filtered on a list of ids; None cannot match, but is typed
                running[config_id] = running.get(config_id, 0) + 1
        return running


class EarlierResults:
    """`ctx.history`: what other tasks of the organization found, for agents that learn from it
    (the ML agent clusters past summaries)."""

    def __init__(self, *, task: Any) -> None:
        self.task = task

    def earlier_summaries(self, count: int) -> list[tuple[str, str]]:
        """(name, summary) of the latest completed results of other tasks, newest first."""
        rows = (
            Result.objects.filter(task__organization_id=self.task.organization_id, status=SUCCESS)
            .exclude(summary="")
            .exclude(task=self.task)
            .order_by("-created_at")[:count]
        )
        return [(f"result:{r.id}", r.summary) for r in rows]


def contribute_history(ctx: AgentContext) -> None:
    ctx.history = EarlierResults(task=ctx.task)
