"""Drops the foreign keys' own single-column indexes where a composite index starts with the same
column (task_org_created for organization, task_parent_created for parent, step_unique_slot,
event_unique_seq and result_task_created for task): any lookup or cascade by the column uses the
composite one, and every index is written on each insert and each non-HOT update, the hot path of
every task (issue 19, PG round 6). Rows are untouched (DROP INDEX only)."""

import django.db.models.deletion
from django.db import migrations, models

# AlterField(db_index=False) would also drop and re-add each foreign key (re-checking every row of
# the table); only the index goes. Names as Django made them (schema_editor._create_index_name).
DROPPED = [
    ("tasks_task_organization_id_50c2ed4a", "tasks_task", "organization_id"),
    ("tasks_task_parent_id_ee6a2001", "tasks_task", "parent_id"),
    ("tasks_taskstep_task_id_0369112b", "tasks_taskstep", "task_id"),
    ("tasks_taskevent_task_id_bfe419b4", "tasks_taskevent", "task_id"),
    ("tasks_result_task_id_72d86017", "tasks_result", "task_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0003_task_type_from_registry"),
        ("users", "0003_invitations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="result",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="results",
                        to="tasks.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="task",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tasks",
                        to="users.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="task",
                    name="parent",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="tasks.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="taskevent",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="tasks.task",
                    ),
                ),
                migrations.AlterField(
                    model_name="taskstep",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="tasks.task",
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
