"""Drops two indexes of the append-only audit table that every audited action writes: the
organisation's own (the (organization, -seq) index starts with it) and the varchar_pattern_ops
copy of `hash` that Django adds to unique text columns for LIKE (nothing searches hashes by
prefix; the unique index stays). Rows are untouched (DROP INDEX only, no UPDATE for the
append-only trigger to refuse)."""

import django.db.models.deletion
from django.db import migrations, models

# The name Django gave it (schema_editor._create_index_name("audit_auditevent", ["hash"], "_like")).
HASH_LIKE = "audit_auditevent_hash_d0c402da_like"


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_append_in_one_statement"),
        ("users", "0003_invitations"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="users.organization",
            ),
        ),
        migrations.RunSQL(
            f"DROP INDEX IF EXISTS {HASH_LIKE}",
            f"CREATE INDEX IF NOT EXISTS {HASH_LIKE} ON audit_auditevent (hash varchar_pattern_ops)",
        ),
    ]
