"""The task and step state machines. Every status change goes through `task_transition` /
`step_transition`; anything not listed here is an illegal transition (409 over HTTP)."""

from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.tasks.events import EventType, event_append, row_save
from apps.tasks.models import StepStatus, Task, TaskStatus, TaskStep

TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.QUEUED, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.QUEUED: frozenset(
        {TaskStatus.RUNNING, TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.TIMED_OUT}
    ),
    TaskStatus.RUNNING: frozenset(
        {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.TIMED_OUT: frozenset({TaskStatus.QUEUED}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.QUEUED}),
}

STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    StepStatus.PENDING: frozenset({StepStatus.QUEUED, StepStatus.CANCELLED, StepStatus.SKIPPED}),
    StepStatus.QUEUED: frozenset(
        {StepStatus.RUNNING, StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.SKIPPED}
    ),
    StepStatus.RUNNING: frozenset(
        {
            StepStatus.COMPLETED,
            StepStatus.FAILED,
            StepStatus.CANCELLED,
            StepStatus.TIMED_OUT,
            StepStatus.QUEUED,  # retry after a retryable error, or re-queued by the reaper
        }
    ),
    StepStatus.COMPLETED: frozenset(),
    StepStatus.FAILED: frozenset({StepStatus.QUEUED}),
    StepStatus.TIMED_OUT: frozenset({StepStatus.QUEUED}),
    StepStatus.CANCELLED: frozenset({StepStatus.QUEUED}),
    StepStatus.SKIPPED: frozenset({StepStatus.QUEUED}),
}

_TASK_EVENTS: dict[str, str] = {  # by status value (the choices are str)
    TaskStatus.QUEUED: EventType.TASK_QUEUED,
    TaskStatus.RUNNING: EventType.TASK_STARTED,
    TaskStatus.COMPLETED: EventType.TASK_COMPLETED,
    TaskStatus.FAILED: EventType.TASK_FAILED,
    TaskStatus.CANCELLED: EventType.TASK_CANCELLED,
    TaskStatus.TIMED_OUT: EventType.TASK_TIMED_OUT,
}

_STEP_EVENTS: dict[str, str] = {
    StepStatus.RUNNING: EventType.STEP_STARTED,
    StepStatus.COMPLETED: EventType.STEP_COMPLETED,
    StepStatus.FAILED: EventType.STEP_FAILED,
    StepStatus.CANCELLED: EventType.STEP_CANCELLED,
    StepStatus.TIMED_OUT: EventType.STEP_TIMED_OUT,
}


def task_transition(task: Task, to: str, *, payload: dict | None = None, **fields: object) -> None:
    """Move a locked task to `to`, set `fields`, append the event. Raises Conflict if illegal."""
    if to not in TASK_TRANSITIONS[task.status]:
        raise Conflict(
            f"A {task.status} task cannot become {to}.",
            extra={"status": task.status, "requested": to},
        )
    now = timezone.now()
    task.status = to
    changed = {"status", "updated_at", *fields}
    for name, value in fields.items():
        setattr(task, name, value)
    if to == TaskStatus.QUEUED:
        task.queued_at = now
        task.finished_at = None
        task.error_message = fields.get("error_message", "")  # type: ignore[assignment]
        changed |= {"queued_at", "finished_at", "error_message"}
    elif to == TaskStatus.RUNNING:
        task.started_at = now
        changed.add("started_at")
    elif to in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT):
        task.finished_at = now
        changed.add("finished_at")
        if to == TaskStatus.COMPLETED:
            task.progress = 100
            changed.add("progress")
    row_save(task, task, changed)
    event_payload = {"status": to, **(payload or {})}
    if task.error_message and to != TaskStatus.COMPLETED:
        event_payload.setdefault("error", task.error_message)
    if to == TaskStatus.COMPLETED:
        event_payload.setdefault("summary", task.summary)
    event_append(task, _TASK_EVENTS[to], event_payload)


def step_transition(
    task: Task, step: TaskStep, to: str, *, payload: dict | None = None, event: bool = True, **fields: object
) -> None:
    """Move a step of a locked task to `to`. Steps have their own event types (step.*)."""
    if to not in STEP_TRANSITIONS[step.status]:
        raise Conflict(f"A {step.status} step cannot become {to}.")
    now = timezone.now()
    step.status = to
    changed = {"status", *fields}
    for name, value in fields.items():
        setattr(step, name, value)
    if to == StepStatus.RUNNING:
        step.started_at = now
        step.finished_at = None
        changed |= {"started_at", "finished_at"}
    elif to == StepStatus.QUEUED:
        step.queued_at = now
        step.lease_owner = ""
        step.lease_expires_at = None
        changed |= {"queued_at", "lease_owner", "lease_expires_at"}
    elif to in (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.TIMED_OUT):
        step.finished_at = now
        step.lease_owner = ""
        step.lease_expires_at = None
        step.message = ""  # the last progress message no longer describes the step
        changed |= {"finished_at", "lease_owner", "lease_expires_at", "message"}
        if to == StepStatus.COMPLETED:
            step.progress = 100
            changed.add("progress")
    row_save(task, step, changed)
    kind: str | None
    if event and to == StepStatus.QUEUED:
        kind = EventType.STEP_RETRYING if step.attempt > 0 else EventType.STEP_QUEUED
    else:
        kind = _STEP_EVENTS.get(to)
    if event and kind:
        event_append(
            task,
            kind,
            {
                "step_id": step.id,
                "agent": step.agent_type,
                "group": step.group_index,
                "status": to,
                "attempt": step.attempt,
                **({"error": step.error_message} if step.error_message else {}),
                **(payload or {}),
            },
        )
