"""Ledger rows and success outcomes written behind a router call (apps.providers.bookkeeping):
they arrive, readers in the process see them, a normal exit writes what is queued, a full queue
makes the caller write its own, and a success written behind still resets the circuit."""

import json

import pytest
from django.db import connection

from apps.providers import bookkeeping, breaker, router
from apps.providers.errors import ProviderUnavailable
from apps.providers.models import CallOutcome, ProviderCall

pytestmark = pytest.mark.django_db(transaction=True)  # calls outside a transaction: the path written behind


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.AMAS_PROVIDER_BOOKKEEPING_BEHIND = True
    settings.AMAS_PROVIDER_CACHE_TTL = 0
    settings.AMAS_PROVIDER_BREAKER_FAILURES = 3


def ask(content: str = "hi"):
    return router.generate([{"role": "user", "content": content}], purpose="test", classification="clear")


def rows_in_database() -> int:
    """Counted with SQL, past the ledger manager (which would flush this process's queue first)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM providers_providercall")
        return cursor.fetchone()[0]


def test_rows_written_behind_the_calls_arrive_and_are_read_by_this_process(
    vendor, provider_factory, only_providers
):
    provider = provider_factory(vendor, name="behind")
    for i in range(5):
        assert ask(f"question {i}").provider == "behind"
    rows = list(ProviderCall.objects.order_by("id"))  # the manager flushes the queue first
    assert [(r.provider_id, r.outcome, r.purpose) for r in rows] == [
        (provider.id, CallOutcome.OK, "test")
    ] * 5
    assert all(r.tokens_in > 0 and r.attempts[0]["provider"] == "behind" for r in rows)
    assert rows_in_database() == 5 and bookkeeping.pending() == 0


def test_a_full_queue_makes_the_caller_write_its_own_row(
    vendor, provider_factory, only_providers, monkeypatch
):
    provider_factory(vendor, name="direct")
    monkeypatch.setattr(bookkeeping, "MAX_PENDING", 0)
    ask()
    assert rows_in_database() == 1  # no flush: the caller's INSERT


def test_writing_behind_can_be_switched_off(vendor, provider_factory, only_providers, settings):
    provider_factory(vendor, name="direct")
    settings.AMAS_PROVIDER_BOOKKEEPING_BEHIND = False
    ask()
    assert rows_in_database() == 1


def test_a_success_written_behind_still_resets_the_failure_count(vendor, provider_factory, only_providers):
    provider = provider_factory(vendor, name="flaky")
    vendor.fail("500", times=2)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            ask()
    assert breaker.state(provider.id).failures == 2
    assert ask().provider == "flaky"  # a success in a closed circuit: its outcome goes behind
    assert breaker.state(provider.id).failures == 0  # state() reads after this process's queue
    vendor.fail("500", times=2)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            ask()
    assert breaker.state(provider.id).state == breaker.CLOSED  # 2 consecutive failures, not 4


EXITING_PROCESS = """
import json, time
from apps.providers import bookkeeping, router
from apps.providers.models import Provider

slow = bookkeeping._insert_rows
def slower(rows):
    time.sleep(0.3)  # the rows are still queued when the process exits
    slow(rows)
bookkeeping._insert_rows = slower
for i in range(3):
    router.generate([{"role": "user", "content": f"q{i}"}], purpose="exiting", classification="clear")
print(json.dumps({"pending": bookkeeping.pending()}))
"""


def test_a_normal_exit_writes_what_is_queued(vendor, provider_factory, only_providers, second_process):
    provider_factory(vendor, name="exiting")
    out = json.loads(
        second_process(
            EXITING_PROCESS,
            extra_env={"AMAS_PROVIDER_CACHE_TTL": "0", "AMAS_PROVIDER_BOOKKEEPING_BEHIND": "true"},
        )
    )
    assert out["pending"] > 0  # the calls returned before their rows were written
    assert ProviderCall.objects.filter(purpose="exiting").count() == 3


@pytest.mark.parametrize("count", [1, 3])
def test_a_ledger_insert_stores_every_field_as_given(count, vendor, provider_factory, analyst):
    """provider_calls_insert sends plain values (one row: scalars; several: one array per column)
    without the model's field preparation: each stored field must come back exactly."""
    from decimal import Decimal

    from django.utils import timezone

    from apps.providers.services import provider_calls_insert

    provider = provider_factory(vendor, name="ledger")
    when = timezone.now()
    rows = [
        {
            "operation": "embed",
            "task_id": None,
            "step_id": None,
            "agent": f"agent {n}",
            "user_id": analyst.pk,
            "organization_id": analyst.organization_id,
            "provider_id": provider.pk,
            "provider_name": provider.name,
            "model": 'm\'odel "quoted" {braces}, commas',
            "purpose": "index",
            "classification": "amber",
            "tokens_in": 17 + n,
            "tokens_out": n,
            "cost": Decimal("0.000123"),
            "latency_ms": 4,
            "outcome": CallOutcome.OK,
            "error": "" if n else "a\nmulti-line error",
            "attempts": [{"provider": "x", "status": "ok", "elapsed_ms": n, "error": "é"}],
            "created_at": when,
        }
        for n in range(count)
    ]
    ids = provider_calls_insert(rows)

    assert len(ids) == count
    for pk, row in zip(ids, rows, strict=True):
        stored = ProviderCall.objects.get(pk=pk)
        for name, value in row.items():
            assert getattr(stored, name) == value, name
