"""The event store. Every change to a task appends one TaskEvent inside the transaction that made
the change; the caller holds the task row lock (select_for_update), which also serialises `seq`.
Task and step rows are locked FOR NO KEY UPDATE (`no_key=True`): it excludes every other locker
just the same, but not the key-share locks that inserting a row which references them takes (an
agent's artefact or ledger row), so such an insert cannot deadlock with a step that locks the
task and then its sibling steps.
After commit, the event is broadcast to websockets and handed to event hooks (webhooks, metrics)."""

from typing import Any

from django.db import connection
from django.utils import timezone

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
    """Append an event to a locked task. Saves task.last_event_seq; the caller saves the rest.

    One statement (one round trip) moves the task's counter and inserts the row: a step appends
    three to four events, and two statements each were a sixth of its queries."""
    task.last_event_seq += 1
    event = TaskEvent(task=task, seq=task.last_event_seq, type=type, payload=payload or {})
    event.created_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                task.last_event_seq,
                task.pk,
                task.pk,
                event.seq,
                type,
                _PAYLOAD.get_db_prep_save(event.payload, connection),
                event.created_at,
            ],
        )
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias
    outbox().events.append((event, task.organization_id))
    return event


_PAYLOAD = TaskEvent._meta.get_field("payload")
_APPEND_SQL = (
    'WITH bump AS (UPDATE "tasks_task" SET "last_event_seq" = %s WHERE "id" = %s) '
    'INSERT INTO "tasks_taskevent" ("task_id", "seq", "type", "payload", "created_at") '
    'VALUES (%s, %s, %s, %s, %s) RETURNING "id"'
)
