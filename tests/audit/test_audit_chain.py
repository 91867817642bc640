import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_record
from tests.audit.tampering import tamper

pytestmark = pytest.mark.django_db


def _record_three(actor):
    return [
        audit_record(event_type="test.event", entity_type="thing", entity_id=i, actor=actor, changes={"n": i})
        for i in range(1, 4)
    ]


def _verify_fails() -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify")
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def test_rows_chain_each_to_the_previous(analyst):
    first, second, third = _record_three(analyst)
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert [first.seq + 1, first.seq + 2] == [second.seq, third.seq]
    report = audit_chain_verify()
    assert report.ok and report.head_hash == third.hash
    call_command("audit_verify")


def test_secret_looking_changes_are_redacted(analyst):
    event = audit_record(
        event_type="test.event",
        entity_type="thing",
        actor=analyst,
        changes={"name": "x", "api_key": "sk-abcdefghijklmnop1234", "nested": {"password": "hunter2"}},
    )
    event.refresh_from_db()
    assert event.changes == {"name": "x", "api_key": "[redacted]", "nested": {"password": "[redacted]"}}
    assert event.organization_id == analyst.organization_id
    assert event.actor_label == analyst.email


def test_edited_row_is_named(analyst):
    _, second, _ = _record_three(analyst)
    tamper("UPDATE audit_auditevent SET changes = %s WHERE id = %s", ['{"n": 99}', second.pk])
    message = _verify_fails()
    assert f"seq={second.seq} (id={second.pk})" in message and "edited" in message


def test_deleted_row_is_named(analyst):
    _, second, third = _record_three(analyst)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
    message = _verify_fails()
    assert f"seq {second.seq} was deleted" in message
    assert f"id={third.pk}" in message


def test_reordered_rows_are_named(analyst):
    first, second, _ = _record_three(analyst)
    # Swap two rows' positions in the chain (seq is unique: go through a free number).
    tamper("UPDATE audit_auditevent SET seq = -1 WHERE id = %s", [first.pk])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [first.seq, second.pk])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [second.seq, first.pk])
    message = _verify_fails()
    assert f"seq={first.seq} (id={second.pk})" in message


def test_database_refuses_updates_and_deletes(analyst):
    event = audit_record(event_type="test.event", entity_type="thing", actor=analyst)
    for sql in (
        "UPDATE audit_auditevent SET event_type = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    with pytest.raises(RuntimeError):
        event.save()
    assert AuditEvent.objects.filter(pk=event.pk, event_type="test.event").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_form_one_line(analyst):
    """Writers in parallel threads (separate connections) still produce one gapless chain (per
    organisation; these rows belong to none: chain 0)."""
    import threading

    from django.db import connections

    errors = []

    def writer(n):
        try:
            for i in range(10):
                audit_record(event_type="test.concurrent", entity_type="thing", entity_id=f"{n}-{i}")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AuditEvent.objects.filter(event_type="test.concurrent").count() == 40
    positions = list(AuditEvent.objects.filter(chain=0).order_by("seq").values_list("chain_seq", flat=True))
    assert positions == list(range(1, len(positions) + 1))
    assert audit_chain_verify().ok
