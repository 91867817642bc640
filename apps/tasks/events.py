"""The event store. Every change to a task appends one TaskEvent inside the transaction that made
the change; the caller holds the task row lock (select_for_update), which also serialises `seq`.
Task and step rows are locked FOR NO KEY UPDATE (`no_key=True`): it excludes every other locker
just the same, but not the key-share locks that inserting a row which references them takes (an
agent's artefact or ledger row), so such an insert cannot deadlock with a step that locks the
task and then its sibling steps.
After commit, the event is broadcast to websockets and handed to event hooks (webhooks, metrics).

The worker's transactions append two events each (task.started + step.started, step.completed +
task.completed); inside `events_batched(task)` they are numbered at once but written together,
in one multi-row INSERT when the block ends (still inside the transaction). The task and step
rows the block changes through `row_save` join that statement as UPDATEs (one statement writes a
transition's rows and its events: a step's claim and outcome were four statements each)."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

from apps.core.prepared import prepared_cursor
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


@dataclass
class _Batch:
    events: list[TaskEvent] = field(default_factory=list)
    # (model, pk) -> (the instance, the fields to write); one UPDATE per row in the statement
    rows: dict[tuple[type[Model], Any], tuple[Model, set[str]]] = field(default_factory=dict)


def event_append(task: Task, type: str, payload: dict[str, Any] | None = None) -> TaskEvent:
    """Append an event to a locked task. Saves task.last_event_seq; the caller saves the rest.

    One statement (one round trip) moves the task's counter and inserts the row: a step appends
    three to four events, and two statements each were a sixth of its queries. Inside
    `events_batched(task)` the row is written when the block ends (its pk is set then)."""
    task.last_event_seq += 1
    event = TaskEvent(task=task, seq=task.last_event_seq, type=type, payload=payload or {})
    event.created_at = timezone.now()
    batch: _Batch | None = getattr(task, _BATCH, None)
    if batch is not None:
        batch.events.append(event)
    else:
        _events_write(task, [event])
    outbox().events.append((event, task.organization_id))
    return event


def row_save(task: Task, row: Model, fields: Iterable[str]) -> None:
    """`row.save(update_fields=fields)` for the locked task or one of its steps; inside
    `events_batched(task)` the UPDATE is part of the block's one statement (written when it ends,
    with the values the instance has then). Nothing in the block may read the row back from the
    database meanwhile (it would see the old values), and a row must be saved through one
    instance (the statement can update a row once)."""
    batch: _Batch | None = getattr(task, _BATCH, None)
    if batch is None:
        row.save(update_fields=sorted(fields))
        return
    key = (type(row), row.pk)
    held = batch.rows.get(key)
    if held is None:
        batch.rows[key] = (row, set(fields))
    elif held[0] is not row:
        raise RuntimeError(f"{key} is saved through two instances inside one events_batched block")
    else:
        held[1].update(fields)


@contextmanager
def events_batched(task: Task) -> Iterator[None]:
    """Write the events appended to `task` in this block, and the rows saved with `row_save`, in
    one statement when it ends. Use it inside the transaction that holds the task lock, around
    code that appends through this Task instance only (another instance of the same row would
    number its events from the stored counter, which the batch has not moved yet). Nothing is
    written if the block raises: the transaction is failing anyway."""
    if getattr(task, _BATCH, None) is not None:  # nested: the outer block writes
        yield
        return
    batch = _Batch()
    setattr(task, _BATCH, batch)
    try:
        yield
    finally:
        delattr(task, _BATCH)
    if batch.events or batch.rows:
        _events_write(task, batch.events, batch.rows.values())


def _update_sql(row: Model, fields: set[str], params: list[Any]) -> str:
    sql, model_fields = _update_statement(type(row), frozenset(fields))
    for model_field in model_fields:
        # pre_save as Model.save would call it (auto_now fields take the time of the write)
        params.append(model_field.get_db_prep_save(model_field.pre_save(row, False), connection))
    params.append(row.pk)
    return sql


@cache
def _update_statement(model: type[Model], fields: frozenset[str]) -> tuple[str, list[Field]]:
    """The UPDATE of these fields of a row of `model`, and its fields in parameter order: a
    worker writes the same few field sets for every step, and building the statement (field
    lookups, quoting) was a tenth of a no-op step's Python time."""
    meta = model._meta
    quote = connection.ops.quote_name
    model_fields: list[Field] = []
    for name in sorted(fields):
        model_field = meta.get_field(name)
        assert isinstance(model_field, Field)
        model_fields.append(model_field)
    sets = ", ".join(f"{quote(f.column)} = %s" for f in model_fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    return sql, model_fields


def _events_write(task: Task, events: list[TaskEvent], rows: Iterable[tuple[Model, set[str]]] = ()) -> None:
    params: list[Any] = []
    ctes: list[str] = []
    counter_moved = not events
    for row, fields in rows:
        if isinstance(row, Task) and row.pk == task.pk and events:
            fields = fields | {"last_event_seq"}
            counter_moved = True
        ctes.append(f"u{len(ctes)} AS ({_update_sql(row, fields, params)})")
    if not counter_moved:
        ctes.append(f"u{len(ctes)} AS ({_BUMP_SQL})")
        params += [task.last_event_seq, task.pk]
    if events:
        main = _INSERT_SQL % ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))
        for event in events:
            params += [
                task.pk,
                event.seq,
                event.type,
                _PAYLOAD.get_db_prep_save(event.payload, connection),
                event.created_at,
            ]
    else:
        main = "SELECT 1"
    # Data-modifying WITH parts run once, to completion, whether or not the main part reads them.
    sql = f"WITH {', '.join(ctes)} {main}" if ctes else main
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        # Postgres returns the rows of a multi-row VALUES insert in order (bulk_create relies on it)
        ids = [row[0] for row in cursor.fetchall()] if events else []
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


_PAYLOAD = TaskEvent._meta.get_field("payload")
_BUMP_SQL = 'UPDATE "tasks_task" SET "last_event_seq" = %s WHERE "id" = %s'
_INSERT_SQL = (
    'INSERT INTO "tasks_taskevent" ("task_id", "seq", "type", "payload", "created_at") '
    'VALUES %s RETURNING "id"'
)
