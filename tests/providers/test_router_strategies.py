"""Failover order per strategy, retries and fallback, against fake vendors."""

from decimal import Decimal
from http import HTTPStatus

import pytest

from apps.providers import router, stats
from apps.providers.errors import ProviderUnavailable
from apps.providers.models import CallOutcome, Provider, ProviderCall

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.AMAS_PROVIDER_BACKOFF_BASE = 0.01
    settings.AMAS_PROVIDER_BACKOFF_MAX = 0.02
    settings.AMAS_PROVIDER_CACHE_TTL = 0


@pytest.fixture
def three(vendor_factory, provider_factory, only_providers):
    fakes = [vendor_factory("openai") for _ in range(3)]
    providers = [provider_factory(f, name=n) for f, n in zip(fakes, "ABC", strict=True)]
    return fakes, providers


def ask(**kwargs):
    return router.generate(
        [{"role": "user", "content": "hello"}], purpose="test", classification="clear", **kwargs
    )


def first_tried(result):
    return result.attempts[0]["provider"]


def test_priority_falls_over_in_order_and_logs_every_attempt(three):
    (a, b, c), _ = three
    a.fail("500")
    b.fail("timeout")
    result = ask(strategy="priority")
    assert result.provider == "C"
    assert [(x["provider"], x["status"]) for x in result.attempts] == [
        ("A", "server"),
        ("B", "timeout"),
        ("C", "ok"),
    ]
    assert all(x["elapsed_ms"] >= 0 for x in result.attempts) and "500" in result.attempts[0]["error"]
    assert (len(a.calls("chat")), len(b.calls("chat")), len(c.calls("chat"))) == (1, 1, 1)
    row = ProviderCall.objects.get()
    assert (row.provider_name, row.outcome, row.purpose) == ("C", CallOutcome.OK, "test")
    assert row.tokens_in == 1 and row.tokens_out == result.tokens_out > 0
    assert len(row.attempts) == 3


def test_round_robin_rotates_the_first_provider(three):
    firsts = [first_tried(ask(strategy="round_robin")) for _ in range(6)]
    assert firsts == ["A", "B", "C", "A", "B", "C"]


def test_round_robin_still_falls_over(three):
    (a, b, c), _ = three
    ask(strategy="round_robin")  # A first
    b.fail("500")
    result = ask(strategy="round-robin")  # B first, fails, C answers
    assert [x["provider"] for x in result.attempts] == ["B", "C"]


def test_fastest_prefers_the_lowest_ewma_latency(three):
    _, (a, b, c) = three
    for _ in range(5):
        stats.observe(a.id, ok=True, latency_ms=300)
        stats.observe(b.id, ok=True, latency_ms=20)
        stats.observe(c.id, ok=True, latency_ms=90)
    result = ask(strategy="fastest")
    assert result.provider == "B"


def test_fastest_learns_from_real_calls(vendor_factory, provider_factory, only_providers):
    slow, quick = vendor_factory("openai", delay=0.15), vendor_factory("openai")
    provider_factory(slow, name="slow", priority=1)
    provider_factory(quick, name="quick", priority=2)
    assert ask(strategy="fastest").provider == "slow"  # unmeasured: priority order
    slow.fail("500")
    assert ask(strategy="fastest").provider == "quick"  # measured now
    assert ask(strategy="fastest").provider == "quick"


def test_cheapest_orders_by_expected_cost_and_keeps_the_builtin_last(three):
    _, (a, b, c) = three
    Provider.objects.filter(pk=a.pk).update(
        cost_per_1k_input=Decimal("0.01"), cost_per_1k_output=Decimal("0.03")
    )
    Provider.objects.filter(pk=b.pk).update(
        cost_per_1k_input=Decimal("0.001"), cost_per_1k_output=Decimal("0.002")
    )
    Provider.objects.filter(pk=c.pk).update(
        cost_per_1k_input=Decimal("0.002"), cost_per_1k_output=Decimal("0.004")
    )
    Provider.objects.filter(kind="builtin").update(enabled=True)
    (fa, fb, fc), _ = three
    fb.fail("500")
    fc.fail("500")
    fa.fail("500")
    result = ask(strategy="cheapest")
    assert [x["provider"] for x in result.attempts] == ["B", "C", "A", "Built-in (offline)"]
    assert result.provider == "Built-in (offline)"
    assert result.text.startswith("[AMAS built-in offline provider")


def test_intelligent_weighs_success_latency_and_cost(three, settings):
    _, (a, b, c) = three
    for _ in range(10):
        stats.observe(a.id, ok=False, latency_ms=None)  # A keeps failing
        stats.observe(b.id, ok=True, latency_ms=50)
        stats.observe(c.id, ok=True, latency_ms=400)
    assert [x["provider"] for x in ask(strategy="intelligent").attempts] == ["B"]
    settings.AMAS_PROVIDER_INTELLIGENT_WEIGHTS = {"success": 0.0, "latency": 0.0, "cost": 1.0}
    Provider.objects.filter(pk=b.pk).update(cost_per_1k_output=Decimal("0.5"))
    assert first_tried(ask(strategy="intelligent")) in ("A", "C")


def test_strategy_per_agent_and_global(three, settings):
    settings.AMAS_PROVIDER_STRATEGY = "round_robin"
    settings.AMAS_PROVIDER_AGENT_STRATEGIES = {"osint": "priority"}
    assert [first_tried(ask(agent="osint")) for _ in range(3)] == ["A", "A", "A"]
    assert [first_tried(ask(agent="other")) for _ in range(3)] == ["A", "B", "C"]


def test_unknown_strategy_is_refused(three):
    from apps.core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        ask(strategy="yolo")


def test_retryable_errors_are_retried_on_the_same_provider_first(three):
    (a, b, _), (pa, _, _) = three
    Provider.objects.filter(pk=pa.pk).update(max_retries=2)
    a.fail("500", times=2)
    result = ask()
    assert [(x["provider"], x["status"]) for x in result.attempts] == [
        ("A", "server"),
        ("A", "server"),
        ("A", "ok"),
    ]
    assert len(b.calls()) == 0


def test_auth_and_model_errors_are_not_retried(three):
    (a, b, _), (pa, pb, _) = three
    Provider.objects.filter(pk=pa.pk).update(max_retries=3, api_key="wrong")
    Provider.objects.filter(pk=pb.pk).update(max_retries=3, model="missing-model")
    result = ask()
    assert [(x["provider"], x["status"]) for x in result.attempts] == [
        ("A", "auth"),
        ("B", "model_not_found"),
        ("C", "ok"),
    ]


def test_malformed_bodies_are_retried_once(three):
    (a, _, _), (pa, _, _) = three
    Provider.objects.filter(pk=pa.pk).update(max_retries=3)
    a.fail("malformed", times=5)
    result = ask()
    assert [x["status"] for x in result.attempts] == ["malformed", "malformed", "ok"]
    assert len(a.calls()) == 2


def test_429_with_a_short_retry_after_waits_and_retries(three):
    (a, _, _), (pa, _, _) = three
    Provider.objects.filter(pk=pa.pk).update(max_retries=1)
    a.fail("429", retry_after=0.05)
    result = ask()
    assert [(x["provider"], x["status"]) for x in result.attempts] == [("A", "rate_limited"), ("A", "ok")]


def test_429_with_a_long_retry_after_falls_back_and_blocks_the_provider(three):
    (a, b, _), (pa, _, _) = three
    Provider.objects.filter(pk=pa.pk).update(max_retries=3)
    a.fail("429", retry_after=30)
    assert ask().provider == "B"
    assert len(a.calls()) == 1
    second = ask()  # A is blocked by its Retry-After: not contacted again
    assert second.attempts[0] == {**second.attempts[0], "provider": "A", "status": "rate_limited"}
    assert second.provider == "B" and len(a.calls()) == 1


def test_every_provider_failing_is_a_clear_503(three):
    fakes, _ = three
    for fake in fakes:
        fake.fail_always("500")
    with pytest.raises(ProviderUnavailable) as info:
        ask()
    assert info.value.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert "A: server" in info.value.message and "C: server" in info.value.message
    assert ProviderCall.objects.get().outcome == CallOutcome.ERROR


def test_each_api_style_can_serve_the_router(vendor_factory, provider_factory, only_providers):
    for style in ("anthropic", "gemini", "cohere", "ollama"):
        provider_factory(vendor_factory(style), name=style)
    result = ask()
    assert (
        result.provider == "anthropic" and result.tokens_in > 0 and result.text.startswith("anthropic reply")
    )
