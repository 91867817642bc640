from django.db import migrations, models

# An append in one round trip (apps/audit/services.py): audit_append takes the chain's advisory
# lock, a `seq`, reads the chain's head and inserts the row, hashing it in the database. Python
# hashes the row's content (everything but its place in the chain); the function chains that
# digest to the row's place: sha256("2|chain|chain_seq|seq|prev_hash|content digest"). Rows of
# this form have hash_scheme 2 (apps/audit/models.py); existing rows keep scheme 1 and their
# hashes, as written. Like audit_chain_next (0004), a VOLATILE PL/pgSQL function reads the head
# with a snapshot taken after the lock is granted. 1096107092 is AUDIT_LOCK_CLASS ("AUDT").
FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append(
    p_chain bigint, p_digest varchar, p_created_at timestamptz, p_event_type varchar,
    p_entity_type varchar, p_entity_id varchar, p_actor_id bigint, p_actor_label varchar,
    p_organization_id bigint, p_changes jsonb, p_ip varchar, p_user_agent varchar,
    p_request_id varchar, p_trust_score integer, p_trust_factors jsonb,
    OUT row_id bigint, OUT row_seq bigint, OUT row_chain_seq bigint, OUT row_prev_hash varchar,
    OUT row_hash varchar
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1096107092, (p_chain % 2147483648)::int4);
    row_seq := nextval('audit_event_seq');
    SELECT a.chain_seq, a.hash INTO row_chain_seq, row_prev_hash
      FROM audit_auditevent a WHERE a.chain = p_chain ORDER BY a.chain_seq DESC LIMIT 1;
    IF row_chain_seq IS NULL THEN
        row_chain_seq := 1;
        row_prev_hash := repeat('0', 64);
    ELSE
        row_chain_seq := row_chain_seq + 1;
    END IF;
    row_hash := encode(sha256(convert_to(
        '2|' || p_chain || '|' || row_chain_seq || '|' || row_seq || '|' || row_prev_hash || '|' || p_digest,
        'UTF8')), 'hex');
    INSERT INTO audit_auditevent (
        seq, chain, chain_seq, hash_scheme, created_at, event_type, entity_type, entity_id, actor_id,
        actor_label, organization_id, changes, ip, user_agent, request_id, trust_score, trust_factors,
        prev_hash, hash
    ) VALUES (
        row_seq, p_chain, row_chain_seq, 2, p_created_at, p_event_type, p_entity_type, p_entity_id,
        p_actor_id, p_actor_label, p_organization_id, p_changes, p_ip, p_user_agent, p_request_id,
        p_trust_score, p_trust_factors, row_prev_hash, row_hash
    ) RETURNING id INTO row_id;
END
$$;
"""

SIGNATURE = (
    "audit_append(bigint, varchar, timestamptz, varchar, varchar, varchar, bigint, varchar, bigint, "
    "jsonb, varchar, varchar, varchar, integer, jsonb)"
)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_chain_next_function")]

    operations = [
        # A constant default: Postgres adds the column without rewriting (or UPDATEing) a row, so
        # the append-only trigger is not involved.
        migrations.AddField(
            model_name="auditevent",
            name="hash_scheme",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.RunSQL(FUNCTION, f"DROP FUNCTION IF EXISTS {SIGNATURE};"),
    ]
