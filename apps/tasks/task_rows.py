"""A new task's rows written in one statement: the task and its steps, with SQL built once per
process. The ORM compiled both INSERTs anew for every submission (the larger part of their CPU),
and they were two round trips. The values go through each field exactly as the ORM's INSERT
sends them (`pre_save(add=True)` for the timestamps, then `get_db_prep_save`).

One statement can write both: the step rows' foreign key is checked when the statement ends,
when the task row its WITH clause inserted is there. Like bulk_create, it sends no pre_save or
post_save signals (nothing listens for Task or TaskStep saves)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import AutoField, BigAutoField, Model, SmallAutoField

from apps.core.prepared import prepared_cursor
from apps.tasks.models import Task, TaskStep


class _Insert:
    """INSERT of a model's concrete columns (a database-generated primary key left out)."""

    def __init__(self, model: type[Model]) -> None:
        quote = connection.ops.quote_name
        self.fields = [
            f
            for f in model._meta.concrete_fields
            if not isinstance(f, AutoField | BigAutoField | SmallAutoField)
        ]
        columns = ", ".join(quote(f.column) for f in self.fields)
        # Only the model's own (quoted) names go into the text; values are parameters.
        self.sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES %s"  # noqa: S608
        self.row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        # Values the ORM would send unchanged: a str of a text column, an int of an integer one,
        # a bool of a boolean one, None (get_db_prep_save of each of the dozens of values per
        # task was the larger part of the statement's CPU). Anything else goes through the field.
        self.plain = [_PLAIN_TYPES.get(f.get_internal_type()) for f in self.fields]

    def values(self, obj: Model, params: list[Any]) -> None:
        for field, plain in zip(self.fields, self.plain, strict=True):
            value = field.pre_save(obj, True)
            if not (value is None or type(value) is plain):
                value = field.get_db_prep_save(value, connection)
            params.append(value)


_PLAIN_TYPES: dict[str, type] = {
    "CharField": str,
    "TextField": str,
    "BooleanField": bool,
    "SmallIntegerField": int,
    "IntegerField": int,
    "BigIntegerField": int,
    "PositiveSmallIntegerField": int,
    "PositiveIntegerField": int,
    "PositiveBigIntegerField": int,
}


@cache
def _task_insert() -> _Insert:
    return _Insert(Task)


@cache
def _step_insert() -> _Insert:
    return _Insert(TaskStep)


def task_rows_insert(task: Task, steps: Sequence[TaskStep]) -> None:
    """INSERT the new task and its steps (in one statement); sets the steps' ids, in order."""
    task_insert, step_insert = _task_insert(), _step_insert()
    params: list[Any] = []
    task_insert.values(task, params)
    with prepared_cursor() as cursor:
        if not steps:
            cursor.execute(task_insert.sql % task_insert.row, params)
        else:
            for step in steps:
                step_insert.values(step, params)
            rows = ", ".join([step_insert.row] * len(steps))
            # Postgres returns the rows of a multi-row VALUES insert in order (bulk_create relies on it)
            task_sql, steps_sql = task_insert.sql % task_insert.row, step_insert.sql % rows
            cursor.execute(f'WITH t AS ({task_sql}) {steps_sql} RETURNING "id"', params)
            for step, (pk,) in zip(steps, cursor.fetchall(), strict=True):
                step.pk = pk
    for row in (task, *steps):
        row._state.adding = False
        row._state.db = connection.alias
