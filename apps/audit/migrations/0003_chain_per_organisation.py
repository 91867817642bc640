from django.db import migrations, models

# Per-organisation chains (apps/audit/models.py). Existing rows are not touched (the append-only
# trigger would refuse it, and their hashes must stay as written): they keep chain NULL and
# verify as the one global chain they are. New rows take `seq` from a sequence that starts after
# the last existing one, so `seq` still orders every row.
SEQUENCE = """
CREATE SEQUENCE IF NOT EXISTS audit_event_seq;
SELECT setval('audit_event_seq', COALESCE((SELECT MAX(seq) FROM audit_auditevent), 0) + 1, false);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="chain_seq",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("chain", "chain_seq"), name="audit_chain_position"),
        ),
        migrations.RunSQL(SEQUENCE, "DROP SEQUENCE IF EXISTS audit_event_seq;"),
    ]
