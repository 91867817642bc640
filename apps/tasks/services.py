"""Writes for tasks: create, cancel, retry, schedule. Views, API, admin and Celery tasks call
these; every change appends its event in the same transaction (apps/tasks/events.py)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from pydantic import ValidationError as PydanticValidationError

from apps.agents.planner import plan_for_task
from apps.agents.registry import agent_registry
from apps.audit.services import audit_record
from apps.core.config_cache import config_version_pinned
from apps.core.exceptions import PermissionDenied, ValidationFailed
from apps.core.vocabulary import Classification, TaskType, task_types
from apps.tasks import cancellation
from apps.tasks.events import EventType, event_append, events_batched
from apps.tasks.hooks import attachment_store
from apps.tasks.models import (
    STEP_TERMINAL_STATUSES,
    StepStatus,
    Task,
    TaskStatus,
    TaskStep,
)
from apps.tasks.orchestrator import steps_build, steps_create, steps_dispatch_queued, steps_send
from apps.tasks.state import step_transition, task_transition
from apps.tasks.task_rows import task_rows_insert
from apps.users.models import User

RESERVED_PARAMETER_KEYS = {"decision_weights"}


def _validate(
    *, task_type: str, classification: str, priority: int, agents: list[str], parameters: dict[str, Any]
) -> None:
    if task_type not in task_types:
        raise ValidationFailed(
            f"Unknown task type {task_type!r}; use one of {', '.join(task_types.values())}.",
            extra={"field": "task_type"},
        )
    if classification not in Classification.values:
        raise ValidationFailed(
            f"Unknown classification {classification!r}.", extra={"field": "classification"}
        )
    if not 1 <= priority <= 10:
        raise ValidationFailed("Priority must be between 1 and 10.", extra={"field": "priority"})
    for agent_type in agents:
        if agent_type not in agent_registry or agent_registry.get(agent_type).aggregator:
            raise ValidationFailed(f"Unknown agent {agent_type!r}.", extra={"field": "agents"})
    if task_type == TaskType.CUSTOM and not agents:
        raise ValidationFailed("A custom task must name its agents.", extra={"field": "agents"})
    for key, value in parameters.items():
        if key in RESERVED_PARAMETER_KEYS:
            continue
        if key not in agent_registry:
            raise ValidationFailed(
                f"parameters.{key}: parameters are keyed by agent type and {key!r} is not an agent.",
                extra={"field": f"parameters.{key}"},
            )
        params_class = agent_registry.get(key).Params
        if isinstance(value, dict) and (problem := params_class.task_parameters_problem(value)):
            where, message = problem
            raise ValidationFailed(
                f"parameters.{key}.{where} {message}.", extra={"field": f"parameters.{key}.{where}"}
            )
        try:
            params_class.model_validate(value)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(
                f"parameters.{key}.{where}: {first['msg']}", extra={"field": f"parameters.{key}.{where}"}
            ) from None


def _schedule_create(task: Task, schedule: dict[str, Any]) -> PeriodicTask:
    if every := schedule.get("every_seconds"):
        if int(every) < settings.AMAS_MIN_SCHEDULE_SECONDS:
            raise ValidationFailed(
                f"schedule.every_seconds must be at least {settings.AMAS_MIN_SCHEDULE_SECONDS}.",
                extra={"field": "schedule.every_seconds"},
            )
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(every), period=IntervalSchedule.SECONDS
        )
        kind = {"interval": interval}
    elif cron := schedule.get("crontab"):
        parts = str(cron).split()
        if len(parts) != 5:
            raise ValidationFailed(
                "schedule.crontab needs five fields: minute hour day-of-month month day-of-week.",
                extra={"field": "schedule.crontab"},
            )
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=parts[0],
            hour=parts[1],
            day_of_month=parts[2],
            month_of_year=parts[3],
            day_of_week=parts[4],
        )
        kind = {"crontab": crontab}
    else:
        raise ValidationFailed("schedule needs every_seconds or crontab.", extra={"field": "schedule"})
    return PeriodicTask.objects.create(
        name=f"amas-task-{task.id}",
        task="tasks.run_scheduled",
        args=json.dumps([str(task.id)]),
        queue="maintenance",
        **kind,
    )


def _snapshot(task: Task) -> dict[str, Any]:
    return {
        "title": task.title,
        "description": task.description,
        "task_type": task.task_type,
        "target": task.target,
        "parameters": task.parameters,
        "requested_agents": task.requested_agents,
        "priority": task.priority,
        "classification": task.classification,
        "organization_id": task.organization_id,
        "created_by_id": task.created_by_id,
        "parent_id": str(task.parent_id) if task.parent_id else None,
    }


# Pinned: the configuration the planner and the after-commit event hooks read (agent configs,
# decision settings, sinks, endpoints; apps/core/config_cache.py) is checked once per submission.
@config_version_pinned()
@transaction.atomic
def task_create(
    *,
    user: User,
    title: str,
    task_type: str,
    target: str = "",
    description: str = "",
    parameters: dict[str, Any] | None = None,
    agents: list[str] | None = None,
    priority: int = 5,
    classification: str = Classification.AMBER,
    files: list[UploadedFile] | None = None,
    schedule: dict[str, Any] | None = None,
    parent: Task | None = None,
) -> Task:
    """Create a task, plan it and queue its first steps (sent after commit).

    With a schedule the task becomes a recurring definition: it does not run itself; each run
    is a child task created by beat (task_run_scheduled)."""
    if not user.can_write:
        raise PermissionDenied("Your role cannot create tasks.")
    parameters = parameters or {}
    agents = list(dict.fromkeys(agents or []))
    _validate(
        task_type=task_type,
        classification=classification,
        priority=priority,
        agents=agents,
        parameters=parameters,
    )
    if user.organization_id is None:
        raise ValidationFailed("Only members of an organisation can create tasks.")
    if files:
        attachment_store().check_limits(files)  # 413 before anything is written
    task = Task(
        organization_id=user.organization_id,
        created_by=user,
        title=title,
        description=description,
        task_type=task_type,
        target=target,
        parameters=parameters,
        requested_agents=agents,
        priority=priority,
        classification=classification,
        parent=parent,
    )
    task.files_attached = bool(files)  # type: ignore[attr-defined]  # the planner need not ask
    # Planned before anything is written: a task that no agent can run is refused with nothing
    # to roll back, and the task and its steps are INSERTed already queued (no UPDATEs after).
    plan = None
    if schedule:
        task.schedule = _schedule_create(task, schedule)
        task.api_steps = []  # type: ignore[attr-defined]  # a definition has no steps of its own
    else:
        plan = plan_for_task(task)
        task.plan = plan.as_dict()
        task.status = TaskStatus.QUEUED
        task.queued_at = timezone.now()
    steps = steps_build(task, plan, queue_first_group=True) if plan is not None else []
    task_rows_insert(task, steps)
    steps_dispatch_queued(task, steps)
    # No select_for_update: a row inserted by this transaction is invisible, so unlockable, to
    # every other one until it commits. task.created and task.queued go in one INSERT.
    with events_batched(task):
        event_append(task, EventType.TASK_CREATED, _snapshot(task))
        for upload in files or []:
            attachment_store().create(task=task, file=upload, uploaded_by=user)
        if plan is not None:
            # The payload task_transition(QUEUED) gives the event of a task queued later (a retry).
            event_append(task, EventType.TASK_QUEUED, {"status": task.status, **_queued_payload(task, steps)})
            # The API replies with the steps (TaskDetailOut reads api_steps, as selectors.task_detail
            # sets it): no query to read them back, nor a queryset to build for them.
            task.api_steps = sorted(steps, key=lambda s: (s.group_index, s.position))  # type: ignore[attr-defined]
    # Last: the audit chain's lock is held until commit, so take it as late as possible.
    _audit("task.create", task, user)
    return task


def _queued_payload(task: Task, steps: list[TaskStep]) -> dict[str, Any]:
    return {
        "plan": task.plan,
        "steps": [
            {
                "step_id": s.id,
                "agent": s.agent_type,
                "group": s.group_index,
                "position": s.position,
                "aggregate": s.is_aggregate,
            }
            for s in steps
        ],
    }


def task_plan_and_queue(task: Task) -> None:
    """Plan a locked, pending task that exists already (ValidationFailed if no agent fits) and
    queue group 0. A new task is planned before it is written (task_create)."""
    plan = plan_for_task(task)
    task.plan = plan.as_dict()
    steps = steps_create(task, plan)
    task_transition(task, TaskStatus.QUEUED, plan=task.plan, payload=_queued_payload(task, steps))
    first_group = min(s.group_index for s in steps)
    steps_send(task, [s for s in steps if s.group_index == first_group], announce=False)
    _steps_known(task, steps)


def _steps_known(task: Task, steps: list[TaskStep]) -> None:
    """Let task.steps.all() answer with the steps just written, as prefetch_related would: the
    API replies to a submission with its steps, and reading them back was a query."""
    known = TaskStep.objects.filter(task=task)
    known._result_cache = sorted(steps, key=lambda s: (s.group_index, s.position))
    known._prefetch_done = True  # type: ignore[attr-defined]
    task._prefetched_objects_cache = {"steps": known}  # type: ignore[attr-defined]


@transaction.atomic
def task_cancel(*, task: Task, by: User | None) -> Task:
    if by is not None and not by.can_write:
        raise PermissionDenied("Your role cannot cancel tasks.")
    task = Task.objects.select_for_update(no_key=True).get(pk=task.pk)
    task_transition(task, TaskStatus.CANCELLED, payload={"by": by.email if by else "system"})
    revoke = []
    for step in task.steps.select_for_update(no_key=True):
        if step.status in STEP_TERMINAL_STATUSES:
            continue
        if step.status == StepStatus.QUEUED and step.celery_task_id:
            revoke.append(step.celery_task_id)
        step_transition(task, step, StepStatus.CANCELLED, error_message="Cancelled by the user.")
    if task.schedule_id:
        PeriodicTask.objects.filter(pk=task.schedule_id).update(enabled=False)
    _audit("task.cancel", task, by)
    task_id = task.id
    transaction.on_commit(lambda: cancellation.cancel_signal(task_id, revoke))
    return task


@transaction.atomic
def task_retry(*, task: Task, by: User | None) -> Task:
    """Re-queue a failed, timed-out or cancelled task: steps that did not complete run again
    (the aggregation always runs again); completed steps keep their results."""
    if by is not None and not by.can_write:
        raise PermissionDenied("Your role cannot retry tasks.")
    task = Task.objects.select_for_update(no_key=True).get(pk=task.pk)
    steps = list(task.steps.select_for_update(no_key=True))
    again = [s for s in steps if s.status != StepStatus.COMPLETED or s.is_aggregate]
    task_transition(
        task,
        TaskStatus.QUEUED,
        attempt=task.attempt + 1,
        payload={"retry": task.attempt + 1, "reset_steps": [s.id for s in again]},
    )
    cancellation.cancel_clear(task.id)
    if not steps:  # planning never happened: plan now
        task.status = TaskStatus.PENDING
        task_plan_and_queue(task)
        return task
    for step in again:
        step.status = StepStatus.PENDING
        step.attempt = 0
        step.progress = 0
        step.error_message = ""
        step.lease_owner = ""
        step.lease_expires_at = None
        step.save(
            update_fields=[
                "status",
                "attempt",
                "progress",
                "error_message",
                "lease_owner",
                "lease_expires_at",
            ]
        )
    if again:
        work = [s for s in again if not s.is_aggregate] or again
        first_group = min(s.group_index for s in work)
        steps_send(task, [s for s in again if s.group_index == first_group])
    _audit("task.retry", task, by)
    return task


@transaction.atomic
def task_run_scheduled(*, parent: Task) -> Task | None:
    """One run of a recurring task: a child task with the parent's definition."""
    if parent.status == TaskStatus.CANCELLED or parent.created_by is None:
        return None
    return task_create(
        user=parent.created_by,
        title=parent.title,
        task_type=parent.task_type,
        target=parent.target,
        description=parent.description,
        parameters=parent.parameters,
        agents=parent.requested_agents,
        priority=parent.priority,
        classification=parent.classification,
        parent=parent,
    )


def _audit(event_type: str, task: Task, actor: User | None) -> None:
    audit_record(
        event_type=event_type,
        entity_type="task",
        entity_id=str(task.id),
        actor=actor,
        organization_id=task.organization_id,
        changes={"status": task.status, "title": task.title},
    )
