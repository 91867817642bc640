"""The check a web process's psycopg pool (AMAS_DATABASE_POOL, amas/settings) runs on a connection
before lending it; amas/asgi.py installs it with `pool_check_install()`.

psycopg_pool's own check (`ConnectionPool.check_connection`, what Django installs when
CONN_HEALTH_CHECKS is on; Django offers no way to pass another) sends an empty query and waits
for the answer: a Postgres round trip before every request's first query, ~0.1 ms of the web
process's CPU per request plus the server's. This check asks the kernel instead: an idle
connection whose socket has nothing to read is as healthy as a round trip could show, while a
server that restarted, or a backend that was terminated, has sent its FATAL message and closed
the socket, which makes it readable. Anything else (readable, not idle, broken, lent for the first
time, or last lent more than ROUND_TRIP_AFTER_IDLE_SECONDS ago, so a connection silently dropped
by a middlebox is still found before a request uses it) gets psycopg_pool's round trip, and a
connection that fails it is replaced by the pool before the request sees it, as before.
"""

from __future__ import annotations

import select
import time
import weakref
from typing import Any

from psycopg import pq
from psycopg_pool import ConnectionPool

ROUND_TRIP_AFTER_IDLE_SECONDS = 5.0

_last_lent: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _quiet(conn: Any) -> bool:
    """True when the connection is open, idle, and its socket has nothing to read."""
    pgconn = conn.pgconn
    if conn.closed or pgconn.status != pq.ConnStatus.OK:
        return False
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def pooled_connection_check(conn: Any) -> None:
    """psycopg_pool `check` callback: return quietly if the connection may be lent, raise if
    not (the pool then discards it and takes or makes another)."""
    now = time.monotonic()
    lent_before = _last_lent.get(conn)
    _last_lent[conn] = now
    if lent_before is not None and now - lent_before < ROUND_TRIP_AFTER_IDLE_SECONDS and _quiet(conn):
        return
    ConnectionPool.check_connection(conn)


def pool_check_install() -> None:
    """Give every pooled database of this process the check above in place of psycopg_pool's
    round trip. Django builds the pool (not yet open) on first access and passes its `check`
    itself, so it is replaced on the pool object; only where Django installed the round-trip
    check (CONN_HEALTH_CHECKS on), so turning health checks off still turns them off."""
    from django.db import connections

    for alias in connections:
        pool = getattr(connections[alias], "pool", None)  # PostgreSQL's wrapper only
        if pool is None:
            continue
        if not hasattr(pool, "_check"):  # psycopg_pool changed: keep its own check, loudly
            raise RuntimeError("psycopg_pool.ConnectionPool has no _check: amas.db_pool needs updating")
        if pool._check is ConnectionPool.check_connection:
            pool._check = pooled_connection_check
