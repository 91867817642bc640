"""Rows appended in one statement (hash scheme 2: the database chains the content digest Python
computed to the row's place) continue chains of rows hashed whole in Python (scheme 1, written
before migration 0005), and audit_verify checks each row by its own scheme."""

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_record
from tests.audit.tampering import hashed_chain, tamper

pytestmark = pytest.mark.django_db


def _scheme_one_rows(organization_id, n):
    """A chain as the two-statement append (audit_chain_next, then the INSERT) wrote it."""
    tamper("DELETE FROM audit_auditevent")
    rows = []
    for position in range(1, n + 1):
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('audit_event_seq')")
            (seq,) = cursor.fetchone()
        rows.append(
            AuditEvent(
                seq=seq,
                chain=organization_id,
                chain_seq=position,
                organization_id=organization_id,
                event_type="old.event",
                entity_type="thing",
                changes={"n": position},
            )
        )
    return hashed_chain(rows)


def test_new_rows_continue_a_chain_of_old_rows(analyst):
    old = _scheme_one_rows(analyst.organization_id, 2)
    new = [audit_record(event_type="t.a", entity_type="thing", entity_id=i, actor=analyst) for i in range(2)]
    assert [r.hash_scheme for r in old + new] == [1, 1, 2, 2]
    assert [r.chain_seq for r in new] == [3, 4]
    assert new[0].prev_hash == old[-1].hash and new[1].prev_hash == new[0].hash
    stored = AuditEvent.objects.get(pk=new[0].pk)
    assert stored.hash == new[0].hash == stored.compute_hash()  # the database's hash, recomputed
    report = audit_chain_verify()
    assert report.ok and report.checked == 4 and report.head_hash == new[1].hash


def test_an_edited_new_row_is_named(analyst):
    _scheme_one_rows(analyst.organization_id, 1)
    first, second = (
        audit_record(event_type="t.a", entity_type="thing", entity_id=i, actor=analyst) for i in range(2)
    )
    tamper("UPDATE audit_auditevent SET entity_id = 'other' WHERE id = %s", [first.pk])
    report = audit_chain_verify()
    assert not report.ok and report.first_break.event_id == first.pk


def test_a_row_moved_to_the_other_scheme_is_named(analyst):
    row = audit_record(event_type="t.a", entity_type="thing", actor=analyst)
    tamper("UPDATE audit_auditevent SET hash_scheme = 1 WHERE id = %s", [row.pk])
    report = audit_chain_verify()
    assert not report.ok and report.first_break.event_id == row.pk
