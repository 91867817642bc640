"""A worker's database connection between tasks (amas/celery.py): a recently used connection
whose socket is quiet is trusted for the next task without Django's health check (SELECT 1);
one whose backend went away (a Postgres restart, a terminated backend) is still checked, and
the next query reconnects instead of failing."""

import select
import time

import pytest
from django.db import connection, connections

from amas.celery import _database_connections_checked, _database_connections_trusted

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kept_connection():
    """The default connection as a worker keeps it (no CONN_MAX_AGE expiry between tasks)."""
    connection.ensure_connection()
    connection.close_at = None
    yield connection
    connection.close()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_quiet_recently_used_connection_is_trusted(kept_connection):
    pid = backend_pid()
    _database_connections_checked()  # a task ended
    assert kept_connection.health_check_done is False
    _database_connections_trusted()  # the next task begins
    assert kept_connection.health_check_done is True
    assert backend_pid() == pid


def test_a_connection_whose_backend_was_terminated_is_checked_and_replaced(kept_connection):
    pid = backend_pid()
    _database_connections_checked()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    # The backend's exit reaches our socket (an error message, then end of file).
    readable, _, _ = select.select([kept_connection.connection.fileno()], [], [], 5)
    assert readable
    _database_connections_trusted()
    assert kept_connection.health_check_done is False
    assert backend_pid() != pid  # the health check found it dead, and Django reconnected


def test_a_connection_idle_longer_than_the_setting_is_checked(kept_connection, settings):
    settings.AMAS_WORKER_HEALTH_CHECK_AFTER_SECONDS = 5.0
    _database_connections_checked()
    kept_connection.amas_released_at = time.monotonic() - 6
    _database_connections_trusted()
    assert kept_connection.health_check_done is False


def test_zero_checks_every_connection(kept_connection, settings):
    settings.AMAS_WORKER_HEALTH_CHECK_AFTER_SECONDS = 0
    _database_connections_checked()
    _database_connections_trusted()
    assert kept_connection.health_check_done is False


def test_a_connection_inside_a_transaction_is_not_trusted(kept_connection):
    _database_connections_checked()
    kept_connection.connection.execute("BEGIN")  # psycopg: the session is now in a transaction
    try:
        _database_connections_trusted()
        assert kept_connection.health_check_done is False
    finally:
        kept_connection.connection.execute("ROLLBACK")
