"""Drops the provider ledger's foreign-key indexes that a composite index starting with the same
column covers (call_provider_created, call_task_created, call_org_created, call_user_created):
lookups and SET NULL on delete use the composite one, and every index is written for each ledger
row, one per router call (issue 19 round 6; found by PG's bench/pg_statements.py). The step's
index stays (no composite starts with step). Rows are untouched (DROP INDEX only)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# AlterField(db_index=False) would also drop and re-add each foreign key (re-checking every row of
# the table); only the index goes. Names as Django made them (schema_editor._create_index_name).
DROPPED = [
    ("providers_providercall_task_id_854d4bb8", "task_id"),
    ("providers_providercall_provider_id_9a3a98e9", "provider_id"),
    ("providers_providercall_organization_id_922b31d8", "organization_id"),
    ("providers_providercall_user_id_12b3ea3b", "user_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0005_model_catalogue"),
        ("tasks", "0004_fk_indexes_covered_by_composites"),
        ("users", "0003_invitations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="providercall",
                    name="task",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="provider_calls",
                        to="tasks.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="providercall",
                    name="provider",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="calls",
                        to="providers.provider",
                    ),
                ),
                migrations.AlterField(
                    model_name="providercall",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="users.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="providercall",
                    name="user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    f"CREATE INDEX IF NOT EXISTS {name} ON providers_providercall ({column})",
                )
                for name, column in DROPPED
            ],
        ),
    ]
