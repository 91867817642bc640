"""Running one step on a worker: claim it under a lease, run the agent in a thread while the
worker thread heartbeats the lease and watches for cancellation and the timeout, then record the
outcome. Every write is idempotent with respect to re-delivered messages."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from apps.agents.base import AgentCancelled, AgentContext, AgentError, AgentResult
from apps.agents.concurrency import agent_slot_acquire, agent_slot_release
from apps.agents.context import contribute
from apps.agents.registry import agent_registry
from apps.core.prepared import prepared_cursor
from apps.tasks import cancellation, hooks, step_rows
from apps.tasks.events import EventType, event_append, events_batched
from apps.tasks.models import Result, StepStatus, Task, TaskStatus, TaskStep
from apps.tasks.orchestrator import steps_progress, steps_resend, steps_send, task_advance
from apps.tasks.outbox import Outbox, flush_held, outboxes_held
from apps.tasks.state import step_transition, task_transition

log = logging.getLogger(__name__)


@dataclass
class StepOutcome:
    status: str
    detail: str = ""


def lease_owner(celery_task_id: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{celery_task_id}"


def _lease_until() -> Any:
    return timezone.now() + timedelta(seconds=settings.AMAS_STEP_LEASE_SECONDS)


DEFERRED = "deferred"

# An agent that ends within this long of its start has its claim's events sent with its
# outcome's, after the outcome's commit (one broadcast, one round of hooks; the outcome no
# longer waits for the claim's); a slower one's go out when it passes this mark.
FAST_AGENT_SECONDS = 0.01


def step_claim(step_id: int, owner: str) -> tuple[Task, TaskStep] | str | None:
    """Move a queued step to running under our lease, holding one of its agent's concurrency
    slots (limits hold across all workers). None if there is nothing to do: the step ended
    already, was cancelled, or another worker holds a live lease on it. DEFERRED when the agent
    is at its limit: the step stays queued and is sent again later. A slot taken by a claim that
    then fails (even at commit) is given back."""
    held: list[int | None] = []
    try:
        return _step_claim(step_id, owner, held)
    except BaseException:
        for config_id in held:
            agent_slot_release(config_id, step_id)
        raise


@transaction.atomic
def _step_claim(step_id: int, owner: str, held: list[int | None]) -> tuple[Task, TaskStep] | str | None:
    # With AMAS_STEP_CLAIM_ASYNC_COMMIT the claim's commit does not wait for the WAL flush
    # (step_rows.claim_lock sets it): waiting was half of a no-op step's time on a busy disk.
    # WAL is written in order, so the step's outcome commit (which waits) makes the claim
    # durable too; if a Postgres crash loses the claim before that, the outcome finds no lease
    # of ours and is discarded, and the step, queued again in the database, is re-sent by the
    # reaper: one run, one result. Only a websocket that saw the lost claim's two events may
    # miss the two that later reuse their numbers.
    # The lock statement only matches a queued step: a duplicate or stale delivery (the step
    # ran, or its task was deleted) goes without waiting for the task's lock.
    locked = step_rows.claim_lock(step_id)
    if locked is None:
        return None  # running elsewhere under a live lease, finished, or deleted
    task, step = locked
    if task.is_terminal:
        return None
    if not agent_slot_acquire(step.agent_config_id, step_id):
        steps_resend(task, [step], countdown=settings.AMAS_CONCURRENCY_RETRY_SECONDS)
        return DEFERRED
    held.append(step.agent_config_id)
    with events_batched(task):  # one statement: both rows and both events
        if task.status == TaskStatus.QUEUED:
            task_transition(task, TaskStatus.RUNNING)
        now = timezone.now()
        step_transition(
            task,
            step,
            StepStatus.RUNNING,
            attempt=step.attempt + 1,
            lease_owner=owner,
            heartbeat_at=now,
            lease_expires_at=_lease_until(),
            error_message="",
        )
    return task, step


def _heartbeat(step_id: int, owner: str) -> bool:
    """Extend our lease; False when we lost it (reaped, cancelled)."""
    now = timezone.now()
    return bool(
        TaskStep.objects.filter(pk=step_id, status=StepStatus.RUNNING, lease_owner=owner).update(
            heartbeat_at=now, lease_expires_at=_lease_until()
        )
    )


class _Progress:
    """Throttled progress writes from the agent thread (its own DB connection)."""

    def __init__(self, step_id: int, owner: str, announced: threading.Event) -> None:
        self.step_id = step_id
        self.owner = owner
        self.announced = announced
        self.last_pct = -1
        self.last_at = 0.0

    def __call__(self, pct: int, message: str) -> None:
        now = time.monotonic()
        if pct == self.last_pct or (now - self.last_at < settings.AMAS_PROGRESS_MIN_INTERVAL and pct < 100):
            return
        self.last_pct, self.last_at = pct, now
        # Not before the claim's events went out (_step_run): websockets get events in order.
        self.announced.wait()
        with transaction.atomic():
            step = TaskStep.objects.filter(pk=self.step_id).only("task_id").first()
            if step is None:
                return
            task = Task.objects.select_for_update(no_key=True).get(pk=step.task_id)
            updated = TaskStep.objects.filter(
                pk=self.step_id, status=StepStatus.RUNNING, lease_owner=self.owner
            ).update(progress=pct, message=message[:500])
            if not updated:
                return
            task.progress = _task_progress(task)
            task.save(update_fields=["progress", "updated_at"])
            event_append(
                task,
                EventType.STEP_PROGRESS,
                {
                    "step_id": self.step_id,
                    "agent": step.agent_type,
                    "progress": pct,
                    "message": message[:500],
                    "task_progress": task.progress,
                },
            )


def _task_progress(task: Task) -> int:
    return steps_progress(task.steps.filter(is_aggregate=False).only("status", "progress", "is_aggregate"))


def _previous_results(task: Task) -> list[dict[str, Any]]:
    return [
        {"agent": r.agent, "status": r.status, "summary": r.summary, "data": r.data}
        for r in Result.objects.filter(task=task, step__is_aggregate=False).order_by(
            "step__group_index", "step__position"
        )
    ]


def _agent_thread(agent: Any, ctx: AgentContext, box: dict[str, Any]) -> None:
    try:
        box["result"] = agent.run(ctx)
    except BaseException as exc:  # reported to the worker thread as the outcome
        box["error"] = exc
    finally:
        connection.close()  # the agent thread's own connection


def step_execute(step_id: int, celery_task_id: str) -> StepOutcome:
    """Claim the step (and a slot of its agent's concurrency limit), run it, record the outcome.
    What the step's transactions send after commit (events to websockets and hooks, the next
    steps' messages) is held, in commit order, and sent as the agent passes FAST_AGENT_SECONDS
    (_step_run) and when the step ends, whichever way it ends."""
    owner = lease_owner(celery_task_id)
    held: list[Outbox] = []
    try:
        with outboxes_held() as held:
            return _step_execute(step_id, owner, held)
    finally:
        flush_held(held)


def _step_execute(step_id: int, owner: str, held: list[Outbox]) -> StepOutcome:
    claimed = step_claim(step_id, owner)
    if claimed is None:
        return StepOutcome("skipped", "nothing to do (finished, cancelled or running elsewhere)")
    if claimed == DEFERRED:
        return StepOutcome("deferred", "agent at its concurrency limit")
    assert not isinstance(claimed, str)
    task, step = claimed
    try:
        return _step_run(task, step, owner, held)
    finally:
        agent_slot_release(step.agent_config_id, step_id)


def _step_run(task: Task, step: TaskStep, owner: str, held: list[Outbox]) -> StepOutcome:
    step_id = step.pk
    started = time.monotonic()
    announced = threading.Event()  # the claim's events were sent
    try:
        agent_class = agent_registry.get(step.agent_type)
        params = agent_class.Params.from_config_and_task(
            step.agent_config.get("parameters") or {}, task.parameters.get(step.agent_type) or {}
        )
    except (KeyError, PydanticValidationError) as exc:
        return step_fail(
            step_id, owner, f"Cannot start agent {step.agent_type}: {exc}", started=started, task_id=task.pk
        )

    stop = threading.Event()
    ctx = AgentContext(
        task=task,
        step=step,
        parameters=params,
        previous_results=_previous_results(task) if agent_class.aggregator else None,
        progress_callback=_Progress(step_id, owner, announced),
        cancelled_callback=stop.is_set,
    )
    contribute(ctx)
    box: dict[str, Any] = {}
    thread = threading.Thread(
        target=_agent_thread, args=(agent_class(), ctx, box), name=f"agent-{step_id}", daemon=True
    )
    thread.start()
    thread.join(timeout=FAST_AGENT_SECONDS)
    if thread.is_alive():  # not a fast agent: its claim's events go now (see FAST_AGENT_SECONDS)
        try:
            flush_held(held)
        finally:
            announced.set()
    deadline = started + step.timeout_seconds
    next_beat = time.monotonic() + settings.AMAS_STEP_HEARTBEAT_SECONDS
    reason = ""
    while thread.is_alive():
        thread.join(timeout=settings.AMAS_STEP_POLL_SECONDS)
        now = time.monotonic()
        if not thread.is_alive():
            break
        if cancellation.is_cancelled(task.id):
            reason = "cancelled"
        elif now >= deadline:
            reason = "timeout"
        elif now >= next_beat:
            next_beat = now + settings.AMAS_STEP_HEARTBEAT_SECONDS
            if not _heartbeat(step_id, owner):
                reason = "lease-lost"
        if reason:
            stop.set()  # the agent sees is_cancelled(); we do not wait for it to comply
            thread.join(timeout=settings.AMAS_STEP_GRACE_SECONDS)
            break
    if reason == "timeout":
        return step_fail(
            step_id,
            owner,
            f"Timed out after {step.timeout_seconds}s.",
            started=started,
            status=StepStatus.TIMED_OUT,
            task_id=task.pk,
        )
    if reason in ("cancelled", "lease-lost"):
        return StepOutcome(reason)
    error = box.get("error")
    if isinstance(error, AgentCancelled):
        return StepOutcome("cancelled")
    if isinstance(error, AgentError) and error.retryable:
        return step_retry_later(step_id, owner, str(error), started=started, task_id=task.pk)
    if error is not None:
        message = f"{type(error).__name__}: {error}"
        log.warning("Agent %s failed on step %s: %s", step.agent_type, step_id, message)
        return step_fail(step_id, owner, message, started=started, task_id=task.pk)
    return step_complete(step_id, owner, box["result"], started=started, task_id=task.pk)


def _locked(step_id: int, owner: str, task_id: Any = None) -> tuple[Task, TaskStep, list[TaskStep]] | None:
    """The task, the step and all the task's steps, locked in one statement; None if the lease
    was lost meanwhile (whoever holds it now records the outcome) or the task is gone."""
    if task_id is None:  # the step runner knows it; other callers look it up
        task_id = TaskStep.objects.filter(pk=step_id).values_list("task_id", flat=True).first()
        if task_id is None:
            return None
    locked = step_rows.task_steps_lock(task_id)
    if locked is None:
        return None
    task, steps = locked
    step = next((s for s in steps if s.pk == step_id), None)
    if step is None or step.status != StepStatus.RUNNING or step.lease_owner != owner:
        return None
    return task, step, steps


def _result_upsert(task: Task, step: TaskStep, **fields: Any) -> Result:
    """One Result per step: a re-run (retry, re-delivery) replaces it in place (the given fields;
    its id and created_at stay). One INSERT .. ON CONFLICT (step_id) statement; the caller holds
    the task lock, so nobody else writes a Result for this step meanwhile."""
    row = Result(task=task, step=step, agent=step.agent_type, **fields)
    columns = Result._meta.concrete_fields
    values = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in columns]
    sql = _result_upsert_sql(frozenset(fields))
    with prepared_cursor() as cursor:
        cursor.execute(sql, values)
        row.id = cursor.fetchone()[0]
    row._state.adding = False
    row._state.db = connection.alias
    return row


@cache
def _result_upsert_sql(fields: frozenset[str]) -> str:
    """Built once per set of replaced fields (a worker uses two: completed and failed steps)."""
    columns = Result._meta.concrete_fields
    quote = connection.ops.quote_name
    update = ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in columns if f.name in fields)
    names = ", ".join(quote(f.column) for f in columns)
    marks = ", ".join(["%s"] * len(columns))
    # Identifiers come from the model's meta, values are parameters.
    return (
        f"INSERT INTO {quote(Result._meta.db_table)} ({names}) VALUES ({marks}) "  # noqa: S608
        f'ON CONFLICT ("step_id") DO UPDATE SET {update} RETURNING "id"'
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@transaction.atomic
def step_complete(
    step_id: int, owner: str, outcome: AgentResult, *, started: float, task_id: Any = None
) -> StepOutcome:
    locked = _locked(step_id, owner, task_id)
    if locked is None:
        return StepOutcome("discarded", "lease lost before completion")
    task, step, steps = locked
    with events_batched(task):  # the step's and the task's rows and events: one statement
        return _step_complete(task, step, steps, outcome, started=started)


def _step_complete(
    task: Task, step: TaskStep, steps: list[TaskStep], outcome: AgentResult, *, started: float
) -> StepOutcome:
    elapsed = _elapsed_ms(started)
    status = "completed" if outcome.status == "completed" else "failed"
    result = _result_upsert(
        task,
        step,
        status=status,
        data=outcome.data,
        summary=outcome.summary,
        processing_time_ms=elapsed,
        error_message=outcome.error_message,
        tokens_in=outcome.tokens_in,
        tokens_out=outcome.tokens_out,
        cost=Decimal(str(outcome.cost)),
    )
    step_rows.result_cache(step, result)  # task_finish reads the summary step's result
    # Result hooks run before the event is written: the ledger hook replaces the agent's token
    # and cost figures and adds who generated the text, and the event must carry those final
    # figures, or replaying the events would not rebuild the row.
    hooks.run_result_hooks(result, outcome)
    result_payload = {
        "result_id": str(result.id),
        "result_status": status,
        "summary": result.summary,
        "data": result.data,
        "processing_time_ms": elapsed,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "cost": str(result.cost),
        "entities": len(outcome.entities),
        "relations": len(outcome.relations),
    }
    if status == "completed":
        step_transition(task, step, StepStatus.COMPLETED, payload=result_payload)
    else:
        step_transition(
            task, step, StepStatus.FAILED, payload=result_payload, error_message=outcome.error_message[:2000]
        )
    task_advance(task, steps)
    return StepOutcome(status)


@transaction.atomic
def step_fail(
    step_id: int,
    owner: str,
    message: str,
    *,
    started: float,
    status: str = StepStatus.FAILED,
    task_id: Any = None,
) -> StepOutcome:
    locked = _locked(step_id, owner, task_id)
    if locked is None:
        return StepOutcome("discarded", "lease lost before failure was recorded")
    task, step, steps = locked
    elapsed = _elapsed_ms(started)
    result = _result_upsert(
        task, step, status=status, data={}, processing_time_ms=elapsed, error_message=message[:2000]
    )
    step_rows.result_cache(step, result)
    with events_batched(task):
        step_transition(
            task,
            step,
            status,
            error_message=message[:2000],
            payload={"result_id": str(result.id), "result_status": status, "processing_time_ms": elapsed},
        )
        task_advance(task, steps)
    return StepOutcome(status, message)


@transaction.atomic
def step_retry_later(
    step_id: int, owner: str, message: str, *, started: float, task_id: Any = None
) -> StepOutcome:
    """A retryable error: queue the step again with exponential backoff, up to max_attempts."""
    locked = _locked(step_id, owner, task_id)
    if locked is None:
        return StepOutcome("discarded")
    task, step, _steps = locked
    if step.attempt >= step.max_attempts:
        return step_fail(
            step_id,
            owner,
            f"{message} (gave up after {step.attempt} attempts)",
            started=started,
            task_id=task.pk,
        )
    countdown = min(
        settings.AMAS_RETRY_BACKOFF_MAX, settings.AMAS_RETRY_BACKOFF_BASE * 2 ** (step.attempt - 1)
    )
    step.error_message = message[:2000]
    steps_send(
        task, [step], countdown=countdown, payload={"retry_in_seconds": countdown, "reason": message[:500]}
    )
    return StepOutcome("retrying", message)
