"""Budgets: the expected cost is reserved before a call and refused if it would pass a budget
(no request reaches the vendor); the reservation is reconciled with the real cost after."""

from decimal import Decimal
from http import HTTPStatus

import pytest

from apps.providers import budgets, router
from apps.providers.errors import BudgetExceeded
from apps.providers.models import Budget, BudgetScope, CallOutcome, Provider, ProviderCall
from apps.tasks.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.AMAS_PROVIDER_CACHE_TTL = 0


@pytest.fixture
def paid(vendor_factory, provider_factory, only_providers):
    fake = vendor_factory("openai")
    provider_factory(fake, name="paid", cost_per_1k_input=Decimal("1"), cost_per_1k_output=Decimal("2"))
    return fake


@pytest.fixture
def task(analyst):
    return Task.objects.create(
        organization=analyst.organization,
        created_by=analyst,
        title="t",
        task_type="custom",
        classification="clear",
    )


def ask(**kwargs):
    return router.generate([{"role": "user", "content": "hello there"}], purpose="test", **kwargs)


def test_a_call_that_would_pass_the_task_budget_is_refused_before_sending(paid, task, settings):
    settings.AMAS_BUDGET_PER_TASK_USD = 0.5
    with pytest.raises(BudgetExceeded) as info:
        ask(task=task, max_tokens=512)  # expected: 512 output tokens * $2/1k = $1.02
    assert info.value.status == HTTPStatus.PAYMENT_REQUIRED
    assert "per-task budget" in info.value.message
    assert paid.calls() == []
    assert ProviderCall.objects.get().outcome == CallOutcome.REFUSED_BUDGET


def test_a_call_that_fits_is_reconciled_to_its_real_cost(paid, task, settings):
    settings.AMAS_BUDGET_PER_TASK_USD = 5
    result = ask(task=task, max_tokens=512)
    assert result.cost == pytest.approx((result.tokens_in * 1 + result.tokens_out * 2) / 1000)
    limit = budgets.applicable_limits(
        task_id=task.pk, user_id=task.created_by_id, organization_id=task.organization_id
    )[0]
    assert budgets.spent(limit) == Decimal(str(result.cost))
    assert ProviderCall.objects.get().cost == Decimal(str(result.cost))


def test_a_user_daily_budget_row_refuses_too(paid, analyst):
    Budget.objects.create(scope=BudgetScope.PER_USER_DAY, user=analyst, limit_usd=Decimal("0.01"))
    with pytest.raises(BudgetExceeded) as info:
        ask(user=analyst, classification="clear")
    assert "daily budget" in info.value.message
    assert paid.calls() == []


def test_organisation_daily_budget_counts_earlier_spend_from_the_ledger(paid, analyst):
    ask(user=analyst, classification="clear", max_tokens=10)
    spent = ProviderCall.objects.get().cost
    budgets_counter = budgets.applicable_limits(organization_id=analyst.organization_id)
    assert budgets_counter == []  # no limit yet
    from apps.providers import redis_client

    for key in redis_client.client().scan_iter(match=redis_client.PREFIX + "budget*"):
        redis_client.client().delete(key)  # Redis lost its counters: the ledger rebuilds them
    Budget.objects.create(
        scope=BudgetScope.PER_DAY, organization=analyst.organization, limit_usd=spent + Decimal("0.005")
    )
    with pytest.raises(BudgetExceeded) as info:
        ask(user=analyst, classification="clear", max_tokens=10)
    assert "organisation's daily budget" in info.value.message
    assert len(paid.calls()) == 1


def test_a_free_provider_still_serves_when_the_paid_one_is_over_budget(paid, task, settings):
    settings.AMAS_BUDGET_PER_TASK_USD = 0.01
    Provider.objects.filter(kind="builtin").update(enabled=True)
    result = ask(task=task)
    assert result.provider == "Built-in (offline)"
    assert [a["status"] for a in result.attempts] == ["refused_budget", "ok"]
    assert paid.calls() == []


def test_a_failed_call_releases_its_reservation(paid, task, settings):
    settings.AMAS_BUDGET_PER_TASK_USD = 5
    Provider.objects.filter(kind="builtin").update(enabled=True)
    paid.fail("500")
    ask(task=task)
    limit = budgets.applicable_limits(task_id=task.pk)[0]
    assert budgets.spent(limit) == 0
