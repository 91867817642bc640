"""The event store. Every change to a task appends one TaskEvent inside the transaction that made
the change; the caller holds the task row lock (select_for_update), which also serialises `seq`.
Task and step rows are locked FOR NO KEY UPDATE (`no_key=True`): it excludes every other locker
just the same, but not the key-share locks that inserting a row which references them takes (an
agent's artefact or ledger row), so such an insert cannot deadlock with a step that locks the
task and then its sibling steps.
After commit, the event is broadcast to websockets and handed to event hooks (webhooks, metrics).

The worker's transactions append two events each (task.started + step.started, step.completed +
task.completed); inside `events_batched(task)` they are numbered at once but written together,
in one multi-row INSERT when the block ends (still inside the transaction)."""

from collections.abc import Iterator
from contextlib import contextmanager
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


_BATCH = "_amas_event_batch"  # attribute of a Task instance while events_batched() is open


def event_append(task: Task, type: str, payload: dict[str, Any] | None = None) -> TaskEvent:
    """Append an event to a locked task. Saves task.last_event_seq; the caller saves the rest.

    One statement (one round trip) moves the task's counter and inserts the row: a step appends
    three to four events, and two statements each were a sixth of its queries. Inside
    `events_batched(task)` the row is written when the block ends (its pk is set then)."""
    task.last_event_seq += 1
    event = TaskEvent(task=task, seq=task.last_event_seq, type=type, payload=payload or {})
    event.created_at = timezone.now()
    batch: list[TaskEvent] | None = getattr(task, _BATCH, None)
    if batch is not None:
        batch.append(event)
    else:
        _events_write(task, [event])
    outbox().events.append((event, task.organization_id))
    return event


@contextmanager
def events_batched(task: Task) -> Iterator[None]:
    """Write the events appended to `task` in this block in one statement when it ends. Use it
    inside the transaction that holds the task lock, around code that appends through this
    Task instance only (another instance of the same row would number its events from the
    stored counter, which the batch has not moved yet). Nothing is written if the block raises:
    the transaction is failing anyway."""
    if getattr(task, _BATCH, None) is not None:  # nested: the outer block writes
        yield
        return
    batch: list[TaskEvent] = []
    setattr(task, _BATCH, batch)
    try:
        yield
    finally:
        delattr(task, _BATCH)
    if batch:
        _events_write(task, batch)


def _events_write(task: Task, events: list[TaskEvent]) -> None:
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))
    params: list[Any] = [task.last_event_seq, task.pk]
    for event in events:
        params += [
            task.pk,
            event.seq,
            event.type,
            _PAYLOAD.get_db_prep_save(event.payload, connection),
            event.created_at,
        ]
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL % rows, params)
        # Postgres returns the rows of a multi-row VALUES insert in order (bulk_create relies on it)
        ids = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


_PAYLOAD = TaskEvent._meta.get_field("payload")
_APPEND_SQL = (
    'WITH bump AS (UPDATE "tasks_task" SET "last_event_seq" = %%s WHERE "id" = %%s) '
    'INSERT INTO "tasks_taskevent" ("task_id", "seq", "type", "payload", "created_at") '
    'VALUES %s RETURNING "id"'
)
