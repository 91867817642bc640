"""The event store. Every change to a task appends one TaskEvent inside the transaction that made
the change; the caller holds the task row lock (select_for_update), which also serialises `seq`.
Task and step rows are locked FOR NO KEY UPDATE (`no_key=True`): it excludes every other locker
just the same, but not the key-share locks that inserting a row which references them takes (an
agent's artefact or ledger row), so such an insert cannot deadlock with a step that locks the
task and then its sibling steps.
After commit, the event is broadcast to websockets and handed to event hooks (webhooks, metrics)."""

from typing import Any

from apps.tasks.models import Task, TaskEvent
from apps.tasks.outbox import outbox


class EventType:
    TASK_CREATED = "task.created"
    TASK_QUEUED = "task.queued"
    TASK_STARTED = "task.started"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"
    TASK_CANCELLED = "task.cancelled"
    TASK_TIMED_OUT = "task.timed_out"
    STEP_QUEUED = "step.queued"
    STEP_STARTED = "step.started"
    STEP_PROGRESS = "step.progress"
    STEP_COMPLETED = "step.completed"
    STEP_FAILED = "step.failed"
    STEP_RETRYING = "step.retrying"
    STEP_CANCELLED = "step.cancelled"
    STEP_TIMED_OUT = "step.timed_out"


def event_append(task: Task, type: str, payload: dict[str, Any] | None = None) -> TaskEvent:
    """Append an event to a locked task. Saves task.last_event_seq; the caller saves the rest."""
    task.last_event_seq += 1
    Task.objects.filter(pk=task.pk).update(last_event_seq=task.last_event_seq)
    event = TaskEvent.objects.create(task=task, seq=task.last_event_seq, type=type, payload=payload or {})
    outbox().events.append((event, task.organization_id))
    return event
