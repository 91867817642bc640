"""The rows a step's two transactions lock, read in one statement each with SQL built once per
process. The ORM compiled these queries anew for every step, and that compilation was the larger
part of a no-op step's CPU; the statements themselves are what the ORM sent, joined.

Lock order is the pipeline's everywhere: the task row first, then its steps in (group_index,
position) order. Postgres takes a locking SELECT's row locks in the order the rows come out of
the ORDER BY, and for each joined row in the FROM clause's order (task, then step)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model

from apps.core.prepared import prepared_cursor
from apps.tasks.models import Result, StepStatus, Task, TaskStep

Converter = Callable[[Any, Any, Any], Any]


class _Columns:
    """A model's concrete columns under a table alias, and how to build an instance from them
    as the ORM would (the same database converters, e.g. JSON decoding)."""

    def __init__(self, model: type[Model], alias: str) -> None:
        quote = connection.ops.quote_name
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.sql = ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)
        self.converters: list[tuple[int, list[Converter], Any]] = []
        for index, field in enumerate(self.fields):
            column = field.get_col(alias)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                self.converters.append((index, found, column))

    def __len__(self) -> int:
        return len(self.fields)

    def build(self, values: Sequence[Any]) -> Any:
        row = list(values)
        for index, converters, column in self.converters:
            for convert in converters:
                row[index] = convert(row[index], column, connection)
        return self.model.from_db(connection.alias, self.names, row)


@cache
def _task() -> _Columns:
    return _Columns(Task, "t")


@cache
def _step() -> _Columns:
    return _Columns(TaskStep, "s")


@cache
def _claim_sql(async_commit: bool) -> str:
    # set_config(.., true) is SET LOCAL inside the statement (one round trip fewer); see
    # execution._step_claim for why the claim may skip waiting for the WAL flush.
    prefix = "set_config('synchronous_commit', 'off', true), " if async_commit else ""
    return (
        f"SELECT {prefix}{_task().sql}, {_step().sql} "  # noqa: S608 (identifiers from model meta)
        'FROM "tasks_task" t INNER JOIN "tasks_taskstep" s ON s."task_id" = t."id" '
        'WHERE s."id" = %s AND s."status" = %s FOR NO KEY UPDATE'
    )


def _attach(task: Task, step: TaskStep) -> None:
    TaskStep.task.field.set_cached_value(step, task)


def claim_lock(step_id: int) -> tuple[Task, TaskStep] | None:
    """Lock a queued step and its task (inside the caller's transaction). None when the step is
    not queued (a duplicate or stale delivery: then nothing is locked, nor waited for, unless the
    step was queued when the statement began) or gone."""
    async_commit = bool(settings.AMAS_STEP_CLAIM_ASYNC_COMMIT)
    with prepared_cursor() as cursor:
        cursor.execute(_claim_sql(async_commit), [step_id, StepStatus.QUEUED])
        row = cursor.fetchone()
    if row is None:
        return None
    if async_commit:
        row = row[1:]
    split = len(_task())
    task, step = _task().build(row[:split]), _step().build(row[split:])
    _attach(task, step)
    return task, step


@cache
def _outcome_sql() -> str:
    return (
        f"SELECT {_task().sql}, {_step().sql} "  # noqa: S608 (identifiers from model meta)
        'FROM "tasks_task" t INNER JOIN "tasks_taskstep" s ON s."task_id" = t."id" '
        'WHERE t."id" = %s ORDER BY s."group_index", s."position" FOR NO KEY UPDATE OF t, s'
    )


def task_steps_lock(task_id: Any) -> tuple[Task, list[TaskStep]] | None:
    """Lock a task and all its steps, in order (each with its task cached as `step.task`). None
    if the task has no steps or is gone.

    Results are not read here: a row this statement does not lock comes from the snapshot taken
    when it began, so a sibling's Result committed while the statement waited for the task lock
    would be missing. `step.result` queries (after the lock) when task_finish needs a sibling's;
    the step runner caches its own step's new Result (result_cache)."""
    with prepared_cursor() as cursor:
        cursor.execute(_outcome_sql(), [task_id])
        rows = cursor.fetchall()
    if not rows:
        return None
    split = len(_task())
    task = _task().build(rows[0][:split])
    steps = []
    for row in rows:
        step = _step().build(row[split:])
        _attach(task, step)
        steps.append(step)
    return task, steps


def result_cache(step: TaskStep, result: Result | None) -> None:
    """Set what `step.result` answers without a query (None: RelatedObjectDoesNotExist)."""
    TaskStep.result.related.set_cached_value(step, result)
