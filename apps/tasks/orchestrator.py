"""Turns a plan into steps and steps into Celery messages, and decides what runs next.

Parallel groups are sent as a Celery `group`. The aggregation runs when the last step of the last
group ends; that fan-in is counted in Postgres under the task row lock (see `task_advance`)
rather than by a chord callback, because chord state lives in the result backend and is lost or
doubled when the reaper re-queues a step whose worker died."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from celery import group
from django.utils import timezone

from apps.agents.planner import Plan
from apps.agents.registry import agent_registry
from apps.tasks.events import row_save
from apps.tasks.models import STEP_TERMINAL_STATUSES, StepStatus, Task, TaskStatus, TaskStep
from apps.tasks.outbox import outbox
from apps.tasks.state import step_transition, task_transition

AGGREGATOR_TYPE = "aggregator"


def celery_priority(task_priority: int) -> int:
    """Task priority 10 is most urgent; kombu's Redis transport serves priority 0 first."""
    return max(0, min(9, 10 - task_priority))


def steps_build(task: Task, plan: Plan, *, queue_first_group: bool = False) -> list[TaskStep]:
    """The plan's steps (and the aggregation), not written yet. With `queue_first_group` (a task
    being created) the first group is queued, with its message ids: what steps_send(announce=False)
    does, without UPDATEing the rows after they are written (see steps_dispatch_queued)."""
    steps = [
        TaskStep(
            task=task,
            agent_type=planned.agent_type,
            agent_config_id=planned.agent_config_id,
            agent_config=planned.agent_config,
            group_index=planned.group_index,
            position=position,
            timeout_seconds=planned.timeout_seconds,
            queue=planned.queue,
            max_attempts=planned.max_attempts,
        )
        for position, planned in enumerate(plan.steps)
    ]
    if len(steps) > 1 and AGGREGATOR_TYPE in agent_registry:
        aggregator = agent_registry.get(AGGREGATOR_TYPE)
        steps.append(
            TaskStep(
                task=task,
                agent_type=AGGREGATOR_TYPE,
                group_index=max(s.group_index for s in steps) + 1,
                position=len(steps),
                is_aggregate=True,
                timeout_seconds=aggregator.default_timeout_seconds,
                queue=aggregator.default_queue,
            )
        )
    if queue_first_group and steps:
        now = timezone.now()
        first_group = min(s.group_index for s in steps)
        for step in steps:
            if step.group_index == first_group:
                step.status = StepStatus.QUEUED
                step.celery_task_id = uuid.uuid4().hex
                step.queued_at = now
    return steps


def steps_dispatch_queued(task: Task, steps: Iterable[TaskStep]) -> None:
    """Send the messages of steps written queued by steps_build (after commit)."""
    _dispatch(task, [s for s in steps if s.status == StepStatus.QUEUED])


def steps_create(task: Task, plan: Plan) -> list[TaskStep]:
    """The plan's steps, pending, written in one INSERT."""
    return TaskStep.objects.bulk_create(steps_build(task, plan))


def steps_send(
    task: Task,
    steps: Iterable[TaskStep],
    *,
    countdown: float | None = None,
    payload: dict | None = None,
    announce: bool = True,
) -> None:
    """Queue steps (caller holds the task lock) and send their messages after commit. Each step
    appends step.queued (step.retrying for a re-queue), except the first group, which the
    task.queued event announces (announce=False)."""
    steps = list(steps)
    for step in steps:
        step.celery_task_id = uuid.uuid4().hex
        step_transition(
            task,
            step,
            StepStatus.QUEUED,
            event=announce,
            payload=payload,
            celery_task_id=step.celery_task_id,
            error_message=step.error_message,
        )
    _dispatch(task, steps, countdown=countdown)


def steps_resend(task: Task, steps: Iterable[TaskStep], *, countdown: float | None = None) -> None:
    """Send queued steps again under new message ids (their message may be lost, or the step
    waits for a concurrency slot). Duplicates are harmless: only one delivery can claim a step.
    queued_at moves too, so the reaper's checks count from this send, not the first one."""
    steps = list(steps)
    now = timezone.now()
    for step in steps:
        step.celery_task_id = uuid.uuid4().hex
        step.queued_at = now
        step.save(update_fields=["celery_task_id", "queued_at"])
    _dispatch(task, steps, countdown=countdown)


def _dispatch(task: Task, steps: list[TaskStep], *, countdown: float | None = None) -> None:
    to_send = [(s.id, s.celery_task_id, s.queue, s.timeout_seconds) for s in steps]
    task_id = str(task.pk)
    priority = celery_priority(task.priority)

    def send() -> None:
        from apps.tasks.tasks import step_run_task

        signatures = [
            step_run_task.signature(
                (step_id,),
                {"task_id": task_id},  # for the worker's log context (observability.step_log_context)
                task_id=celery_id,
                queue=queue,
                priority=priority,
                countdown=countdown,
                # Backstops for prefork workers; the step runner enforces the timeout itself.
                soft_time_limit=timeout + 15,
                time_limit=timeout + 30,
                # What Celery's saferepr would print, without its cost (a tenth of a send).
                argsrepr=repr((step_id,)),
                kwargsrepr=repr({"task_id": task_id}),
            )
            for step_id, celery_id, queue, timeout in to_send
        ]
        if len(signatures) == 1:
            signatures[0].apply_async()
        elif signatures:
            group(signatures).apply_async()

    # If the broker is unreachable right now the steps stay queued in Postgres and the reaper
    # sends them again (reaper.steps_resend_lost); the committed task is not lost.
    outbox().sends.append(send)


def task_advance(task: Task, steps: list[TaskStep] | None = None) -> None:
    """After a step ended (task locked): queue the next group, the aggregation, or finish.
    `steps`: all the task's steps, locked, as the caller holds them (the step runner read them
    with the task, and its changes to them are not written yet; `step.result` is read when
    needed unless cached)."""
    if task.is_terminal:
        return
    if steps is None:
        # The results come with the steps (task_finish reads the summary step's); `of` keeps the
        # lock on the step rows, as Postgres cannot lock the nullable side of the outer join.
        steps = list(
            task.steps.select_for_update(no_key=True, of=("self",))
            .select_related("result")
            .order_by("group_index", "position")
        )
    task.progress = steps_progress(steps)
    work = [s for s in steps if not s.is_aggregate]
    open_steps = [s for s in work if s.status not in STEP_TERMINAL_STATUSES]
    if open_steps:
        row_save(task, task, ["progress", "updated_at"])
        current = min(s.group_index for s in open_steps)
        if not any(s.group_index == current and s.status != StepStatus.PENDING for s in open_steps):
            steps_send(task, [s for s in open_steps if s.group_index == current])
        return
    completed = [s for s in work if s.status == StepStatus.COMPLETED]
    aggregate = next((s for s in steps if s.is_aggregate), None)
    if aggregate is not None and aggregate.status == StepStatus.PENDING:
        if completed:
            row_save(task, task, ["progress", "updated_at"])
            steps_send(task, [aggregate])
            return
        step_transition(task, aggregate, StepStatus.SKIPPED, event=False)
    task_finish(task, steps)  # its transition saves the progress with the status


def steps_progress(steps: Iterable[TaskStep]) -> int:
    work = [(s.status, s.progress) for s in steps if not s.is_aggregate]
    if not work:
        return 0
    return int(sum(100 if status == StepStatus.COMPLETED else p for status, p in work) / len(work))


def task_finish(task: Task, steps: list[TaskStep]) -> None:
    work = [s for s in steps if not s.is_aggregate]
    completed = [s for s in work if s.status == StepStatus.COMPLETED]
    aggregate = next((s for s in steps if s.is_aggregate), None)
    if completed:
        summary_step = aggregate if aggregate and aggregate.status == StepStatus.COMPLETED else completed[0]
        result = getattr(summary_step, "result", None)
        failed = [s for s in work if s.status != StepStatus.COMPLETED]
        summary = {
            "text": result.summary if result else "",
            "agent": summary_step.agent_type,
            "data": result.data if result and summary_step.is_aggregate else {},
            "steps_completed": len(completed),
            "steps_failed": len(failed),
            "failures": {s.agent_type: s.error_message for s in failed},
        }
        task_transition(task, TaskStatus.COMPLETED, summary=summary)
        return
    errors = "; ".join(f"{s.agent_type}: {s.error_message or s.status}" for s in work)
    if all(s.status == StepStatus.TIMED_OUT for s in work):
        task_transition(task, TaskStatus.TIMED_OUT, error_message=errors, progress=task.progress)
    else:
        task_transition(task, TaskStatus.FAILED, error_message=errors, progress=task.progress)
