"""The web pool's connection check (amas/db_pool.py), against the real test Postgres: a connection
whose backend went away is never lent, and a quiet idle connection is lent without a round trip."""

import tempfile
import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from amas.db_pool import pooled_connection_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool():
    params = connection.get_connection_params()
    pool = ConnectionPool(
        kwargs={**params, "autocommit": True},
        min_size=1,
        max_size=1,
        timeout=5,
        check=pooled_connection_check,
        open=True,
    )
    yield pool
    pool.close()


def _backend_pid(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def _wire_messages(conn: psycopg.Connection, action) -> str:
    """What libpq sent and received on `conn` while `action` ran (its protocol trace)."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return trace.read()


def test_a_connection_whose_backend_was_terminated_is_replaced_before_it_is_lent(pool):
    with pool.connection() as conn:
        first = _backend_pid(conn)
    with pool.connection() as conn:  # lent again at once: the quiet path
        assert _backend_pid(conn) == first
    admin = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])
    finally:
        admin.close()
    time.sleep(0.3)  # the backend's FATAL message and the closed socket reach us
    with pool.connection() as conn:
        second = _backend_pid(conn)  # would raise had the dead connection been lent
    assert second != first


def test_a_quiet_idle_connection_is_lent_without_a_round_trip(pool):
    with pool.connection() as conn:
        _backend_pid(conn)  # first lend: checked with a round trip
    held = pool.getconn()
    try:
        # The pool's check ran on getconn; run it again as the pool would on the next lend.
        quiet = _wire_messages(held, lambda: pooled_connection_check(held))
        assert quiet == ""
    finally:
        pool.putconn(held)


def test_a_connection_lent_for_the_first_time_gets_the_round_trip(pool):
    conn = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        trace = _wire_messages(conn, lambda: pooled_connection_check(conn))
        assert "Query" in trace  # psycopg_pool's empty query went out and was answered
        assert "ReadyForQuery" in trace
    finally:
        conn.close()


def test_a_connection_left_in_a_transaction_is_refused_every_time():
    conn = psycopg.connect(**connection.get_connection_params(), autocommit=False)
    try:
        conn.execute("SELECT 1")  # a transaction left open: never lent on the socket's word
        for _ in range(2):  # first sight, then recently lent: both go to the round-trip check
            with pytest.raises(psycopg.ProgrammingError):
                pooled_connection_check(conn)
    finally:
        conn.close()
