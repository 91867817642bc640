"""The event store. Every change to a task appends one TaskEvent inside the transaction that made
the change; the caller holds the task row lock (select_for_update), which also serialises `seq`.
After commit, the event is broadcast to websockets and handed to event hooks (webhooks, metrics)."""

from typing import Any

from django.db import transaction

from apps.tasks import hooks, realtime
from apps.tasks.models import Task, TaskEvent


class EventType:
    TASK_CREATED = "task.created"
    TASK_QUEUED = "task.queued"
    TASK_STARTED = "task.started"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"
    TASK_CANCELLED = "task.cancelled"
    TASK_TIMED_OUT = "task.timed_out"
    TASK_PLANNED = "task.planned"
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
    _batch_for_transaction().append((event, task.organization_id))
    return event


def _batch_for_transaction() -> list[tuple[TaskEvent, Any]]:
    """The events of the current transaction, published together by one after-commit callback:
    one round of group sends per transaction instead of one event loop per event."""
    connection = transaction.get_connection()
    for _savepoints, callback, _robust in connection.run_on_commit:
        batch = getattr(callback, "amas_event_batch", None)
        if batch is not None:
            return batch
    batch: list[tuple[TaskEvent, Any]] = []

    def publish() -> None:
        realtime.events_broadcast(batch)
        for event, _organization_id in batch:
            hooks.run_event_hooks(event)

    publish.amas_event_batch = batch  # type: ignore[attr-defined]
    # robust: the change is committed; a broadcast or hook failing must not fail the caller.
    transaction.on_commit(publish, robust=True)
    return batch
