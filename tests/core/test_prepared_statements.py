import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from apps.core.prepared import prepared_cursor

pytestmark = pytest.mark.django_db

# Parameters of the kinds the pipeline's statements pass: a uuid, text, an int, an aware datetime,
# a NULL (cast: a lone None gives Postgres no type to infer when bound on the server).
SQL = "SELECT %s::uuid, %s || '!', %s + 1, %s::timestamptz, %s::int IS NULL"


def _params() -> list:
    return [uuid.UUID(int=7), "queued", 41, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), None]


def _prepared_on_this_connection() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_is_prepared_once_and_answers_as_the_orms_cursor_does():
    with connection.cursor() as cursor:
        cursor.execute(SQL, _params())
        expected = cursor.fetchone()
    for _ in range(3):
        with prepared_cursor() as cursor:
            cursor.execute(SQL, _params())
            assert cursor.fetchone() == expected
    prepared = [statement for statement in _prepared_on_this_connection() if "|| '!'" in statement]
    assert len(prepared) == 1, prepared
    # The ORM's own queries keep client-side binding: none of them is prepared.
    assert all("|| '!'" in statement for statement in _prepared_on_this_connection())


def test_its_queries_are_counted_and_logged_like_any_other(django_assert_num_queries):
    with django_assert_num_queries(1) as captured, prepared_cursor() as cursor:
        cursor.execute(SQL, _params())
    # With its parameters quoted in, as Django logs server-side bound queries (not None: the
    # tests that look for a table in the captured queries read this text).
    logged = captured.captured_queries[0]["sql"]
    assert "|| '!'" in logged and "'queued'" in logged


@pytest.mark.django_db(transaction=True)  # closes the connection
def test_a_new_connection_prepares_again():
    with prepared_cursor() as cursor:
        cursor.execute(SQL, _params())
    connection.close()  # as after a Postgres restart: the server forgot the connection's statements
    with prepared_cursor() as cursor:
        cursor.execute(SQL, _params())
        assert cursor.fetchone()[2] == 42
    assert any("|| '!'" in statement for statement in _prepared_on_this_connection())


@pytest.mark.django_db(transaction=True)  # closes the connection
def test_switched_off_it_is_the_orms_cursor(settings):
    settings.AMAS_DATABASE_PREPARED_STATEMENTS = False
    connection.close()
    with prepared_cursor() as cursor:
        cursor.execute(SQL, _params())
        assert cursor.fetchone()[2] == 42
    assert _prepared_on_this_connection() == []
