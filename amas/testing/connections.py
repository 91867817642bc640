"""Database connections opened by threads of the test process (in-process Celery workers,
channels' thread pools, background writers) are kept by their thread-local wrappers after the
thread is done with them; Postgres then refuses to drop the test database while they are open
("being accessed by other users"). Track every wrapper Django connects and close the leftovers
before the test database is dropped."""

from __future__ import annotations

import sys
import threading
import weakref
from typing import Any

from django.db.backends.signals import connection_created

_opened: weakref.WeakSet[Any] = weakref.WeakSet()


def _track(sender: Any, connection: Any, **kwargs: Any) -> None:
    _opened.add(connection)


connection_created.connect(_track, dispatch_uid="amas.testing.connections")


def drop_all_threads() -> None:
    """After the test server was restarted (tests/resilience/outages.py): every connection any
    thread of this process opened before is dead, and a wrapper whose health check already ran
    would use its dead connection as is (its thread runs no request signals to reset that; a
    long-lived sync_to_async thread met the restart's "terminating connection" on its next test).
    Close them and let each wrapper that is not inside a transaction connect anew on next use."""
    for wrapper in list(_opened):
        raw = wrapper.connection
        if raw is None:
            continue
        try:
            raw.close()
        except Exception as exc:  # best effort: it is dead already
            print(f"could not close a connection: {exc}", file=sys.__stderr__)
        if not wrapper.in_atomic_block:
            wrapper.connection = None


def report_and_close_leftovers() -> None:
    from django.db import connection

    me = threading.get_ident()
    closed = 0
    for wrapper in list(_opened):
        if wrapper.connection is None or wrapper._thread_ident == me:
            continue
        try:
            wrapper.connection.close()  # the raw psycopg connection: its thread may be gone
            closed += 1
        except Exception as exc:  # best effort at teardown
            print(f"could not close a leftover connection: {exc}", file=sys.__stderr__)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, client_port, state, left(query, 120) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        others = cursor.fetchall()
    if closed or others:
        print(
            f"\n[test teardown] closed {closed} leftover thread connection(s); "
            f"{len(others)} other session(s) still on the test database: {others}",
            file=sys.__stderr__,
        )
