"""Each organisation's audit rows form their own chain (no global lock on the hot path); rows
written before that (chain NULL) still verify as the one global chain they were written as."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_record
from apps.users.models import Organization
from tests.audit.tampering import hashed_chain, tamper

pytestmark = pytest.mark.django_db


def _legacy_rows(n):
    """A database as migration 0003 finds it: only rows the single global chain wrote (seq 1..n,
    no chain columns; the fixtures' rows are removed first), and the sequence after them."""
    tamper("DELETE FROM audit_auditevent")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('audit_event_seq', GREATEST(%s, nextval('audit_event_seq')))", [n + 1])
    rows = [AuditEvent(seq=seq, event_type="old.event", entity_type="thing") for seq in range(1, n + 1)]
    return hashed_chain(rows)


def test_organisations_chain_separately_and_verify(analyst):
    other = Organization.objects.create(name="Other org", slug="other-org")
    legacy = _legacy_rows(2)
    rows = []
    for i in range(3):  # interleaved: each organisation's rows still link to their own
        rows.append(audit_record(event_type="t.a", entity_type="thing", entity_id=i, actor=analyst))
        rows.append(audit_record(event_type="t.b", entity_type="thing", entity_id=i, organization=other))
    mine = [r for r in rows if r.organization_id == analyst.organization_id]
    theirs = [r for r in rows if r.organization_id == other.pk]
    assert [r.chain_seq for r in mine] == [1, 2, 3] and [r.chain_seq for r in theirs] == [1, 2, 3]
    assert mine[1].prev_hash == mine[0].hash and theirs[1].prev_hash == theirs[0].hash
    assert all(r.seq > legacy[-1].seq for r in rows)  # seq still orders every row
    report = audit_chain_verify()
    assert report.ok and report.checked == AuditEvent.objects.count()
    call_command("audit_verify")


def test_a_deletion_in_one_organisation_is_named_with_its_chain(analyst):
    other = Organization.objects.create(name="Other org", slug="other-org")
    audit_record(event_type="t.b", entity_type="thing", organization=other)
    first, second, third = (
        audit_record(event_type="t.a", entity_type="thing", entity_id=i, actor=analyst) for i in range(3)
    )
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify")
    message = str(excinfo.value)
    assert f"chain {analyst.organization_id}" in message and f"id={third.pk}" in message


def test_an_edited_legacy_row_is_still_named(analyst):
    legacy = _legacy_rows(3)
    audit_record(event_type="t.a", entity_type="thing", actor=analyst)
    tamper("UPDATE audit_auditevent SET event_type = 'x' WHERE id = %s", [legacy[1].pk])
    report = audit_chain_verify()
    assert not report.ok and report.first_break.event_id == legacy[1].pk
