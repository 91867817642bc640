from django.db import migrations

# One round trip for what an append needs before it can hash its row: the chain's advisory lock,
# a `seq`, and the chain's head (apps/audit/services.py). A VOLATILE PL/pgSQL function takes a
# fresh snapshot for each statement it runs, so the head is read after the lock is granted and
# sees the row the previous holder committed; a single SQL statement would read it with the
# snapshot taken before it waited for the lock. 1096107092 is AUDIT_LOCK_CLASS ("AUDT").
FUNCTION = """
CREATE OR REPLACE FUNCTION audit_chain_next(
    p_chain bigint, OUT next_seq bigint, OUT head_seq bigint, OUT head_hash varchar
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1096107092, (p_chain % 2147483648)::int4);
    next_seq := nextval('audit_event_seq');
    SELECT a.chain_seq, a.hash INTO head_seq, head_hash
      FROM audit_auditevent a WHERE a.chain = p_chain ORDER BY a.chain_seq DESC LIMIT 1;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_chain_per_organisation")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS audit_chain_next(bigint);"),
    ]
