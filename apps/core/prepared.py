"""Prepared statements for the few fixed statements that every task runs (issue 19, round 6).

Django sends every query with client-side binding (psycopg's ClientCursor quotes the parameters
into the SQL text), so Postgres parses and plans each statement anew. Measured with
pg_stat_statements (bench/pg_statements.py), planning was ~1-1.3 ms of a no-op task's ~5 ms of
Postgres CPU, about three quarters of it for the pipeline's own hand-written statements (the step
claim, the step's and task's row updates with their events, the task insert). `prepared_cursor()`
is a Django cursor on the same connection with server-side binding, whose statements psycopg
prepares on first use (prepare_threshold 0): Postgres parses each once per connection and, after
five executions, reuses a generic plan. ORM queries keep Django's default client-side binding
(their semantics, e.g. no 65,535-parameter limit, are what the rest of the code relies on).

AMAS_DATABASE_PREPARED_STATEMENTS=false turns it off, e.g. behind a transaction-mode PgBouncer
older than 1.21, which cannot send a prepared statement to the server connection that has it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


class _PreparedDebugCursor(CursorDebugWrapper):
    """Where queries are logged (DEBUG, tests' query counters): Django's debug wrapper takes the
    text it records from a client-side cursor's last query, which a server-binding cursor does
    not have, so it would record None. Record the statement with its parameters quoted in, as
    Django does for server-side binding."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(_shown(self.db, sql, params), params):
            return CursorWrapper.execute(self, sql, params)

    def executemany(self, sql: Any, param_list: Any) -> Any:
        with self.debug_sql(sql, param_list, many=True):
            return CursorWrapper.executemany(self, sql, param_list)


def _shown(connection: Any, sql: Any, params: Any) -> str:
    try:
        return str(connection.ops.compose_sql(sql, params))
    except Exception:  # a value the client cannot quote: the statement as written
        return str(sql)


def prepared_cursor(using: str = DEFAULT_DB_ALIAS) -> CursorWrapper:
    """A cursor whose statements Postgres prepares (use it for fixed SQL text with %s
    parameters). The parameters travel separately, so their types come from the values and the
    statement: a str is sent as `unknown` and takes the column's type, an int as the smallest
    integer type that holds it, and a None where nothing gives it a type (`%s IS NULL`) needs a
    cast."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not settings.AMAS_DATABASE_PREPARED_STATEMENTS:
        return connection.cursor()
    # Defined only with psycopg 3, which django-stubs do not assume.
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        TIMESTAMPTZ_OID,
        ServerBindingCursor,
    )
    from django.db.backends.postgresql.psycopg_any import register_tzloader  # type: ignore[import-untyped]
    from psycopg.pq import Format

    # What connection.cursor() does (health check, connect, wrap), with another cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = connection.connection
        # Client cursors never prepare, so this only concerns the cursors made here.
        raw.prepare_threshold = 0
        cursor = ServerBindingCursor(raw)
        loader = raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != loader.timezone:  # as DatabaseWrapper.create_cursor
            register_tzloader(connection.timezone, cursor)
        if connection.queries_logged:
            connection.validate_thread_sharing()
            return _PreparedDebugCursor(cursor, connection)
        return connection._prepare_cursor(cursor)  # type: ignore[attr-defined]  # Django's own wrapping
