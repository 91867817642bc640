"""Drops the foreign keys' own single-column indexes that another index covers: chunk_org_created
and chunk_task_kind start with organization and task, chunk_embedding_unique starts with chunk,
and space's index duplicated chunk_embedding_space exactly. Each is written for every chunk and
embedding a task indexes (issue 19, PG round 6). Rows are untouched (DROP INDEX only)."""

import django.db.models.deletion
from django.db import migrations, models

# AlterField(db_index=False) would also drop and re-add each foreign key (re-checking every row of
# the table); only the index goes. Names as Django made them (schema_editor._create_index_name).
DROPPED = [
    ("knowledge_chunk_organization_id_721abd45", "knowledge_chunk", "organization_id"),
    ("knowledge_chunk_task_id_387c133d", "knowledge_chunk", "task_id"),
    ("knowledge_chunkembedding_chunk_id_9ece30ed", "knowledge_chunkembedding", "chunk_id"),
    ("knowledge_chunkembedding_space_id_8c5bd99f", "knowledge_chunkembedding", "space_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0005_embedding_halfvec_indexes"),
        ("tasks", "0004_fk_indexes_covered_by_composites"),
        ("users", "0003_invitations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chunk",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="users.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="chunk",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="knowledge_chunks",
                        to="tasks.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="chunkembedding",
                    name="chunk",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="embeddings",
                        to="knowledge.chunk",
                    ),
                ),
                migrations.AlterField(
                    model_name="chunkembedding",
                    name="space",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="embeddings",
                        to="knowledge.embeddingspace",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})"
                )
                for name, table, column in DROPPED
            ],
        ),
    ]
