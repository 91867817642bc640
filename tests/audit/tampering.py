"""Writing audit rows past the append-only trigger, as a database owner could: what the chain
verification must catch, and chains laid down as earlier versions of the append wrote them."""

from django.db import connection
from django.utils import timezone

from apps.audit.models import GENESIS_HASH, AuditEvent


def tamper(sql, params=()):
    """Run one statement with the append-only trigger switched off."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def hashed_chain(rows: list[AuditEvent]) -> list[AuditEvent]:
    """Link unsaved rows in order (prev_hash, hash hashed whole in Python: scheme 1) and insert them."""
    prev = GENESIS_HASH
    for row in rows:
        row.prev_hash = prev
        row.created_at = timezone.now()
        row.hash = row.compute_hash()
        row.save(force_insert=True)
        prev = row.hash
    return rows
