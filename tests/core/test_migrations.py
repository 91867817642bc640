import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db


def test_pgvector_extension_is_installed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None


def test_models_and_migrations_agree():
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


# Foreign keys whose own index was dropped because a composite index starts with the same column
# (issue 19 round 6). DROP INDEX IF EXISTS would silently keep an index whose name was guessed
# wrong, so this reads what the migrated database has: no single-column index on these columns,
# and an index that starts with each of them.
COVERED_FOREIGN_KEYS = [
    ("tasks_task", "organization_id"),
    ("tasks_task", "parent_id"),
    ("tasks_taskstep", "task_id"),
    ("tasks_taskevent", "task_id"),
    ("tasks_result", "task_id"),
    ("audit_auditevent", "organization_id"),
    ("knowledge_chunk", "organization_id"),
    ("knowledge_chunk", "task_id"),
    ("knowledge_chunkembedding", "chunk_id"),
    ("providers_providercall", "task_id"),
    ("providers_providercall", "provider_id"),
    ("providers_providercall", "organization_id"),
    ("providers_providercall", "user_id"),
]


@pytest.mark.parametrize(("table", "column"), COVERED_FOREIGN_KEYS)
def test_a_covered_foreign_key_has_no_index_of_its_own_but_one_that_starts_with_it(table, column):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, array_position(i.indkey::int2[], a.attnum) = 0 AS first, i.indnatts"
            " FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey::int2[])"
            " WHERE t.relname = %s AND a.attname = %s",
            [table, column],
        )
        indexes = cursor.fetchall()
    assert not [row for row in indexes if row[1] and row[2] == 1], f"{table}.{column} has its own index"
    assert [row for row in indexes if row[1] and row[2] > 1], f"no index of {table} starts with {column}"
