"""Circuit breaker: opens after N failures, skips the provider, half-opens after the cool-down,
closes after successes; the state lives in Redis, so another process sees it."""

import json
import time

import pytest

from apps.providers import breaker, router
from apps.providers.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def breaker_settings(settings):
    settings.AMAS_PROVIDER_BREAKER_FAILURES = 3
    settings.AMAS_PROVIDER_BREAKER_COOLDOWN = 30.0
    settings.AMAS_PROVIDER_BREAKER_HALF_OPEN_SUCCESSES = 2
    settings.AMAS_PROVIDER_CACHE_TTL = 0
    settings.AMAS_PROVIDER_BACKOFF_BASE = 0.01


@pytest.fixture
def pair(vendor_factory, provider_factory, only_providers):
    flaky, steady = vendor_factory("openai"), vendor_factory("anthropic")
    return flaky, steady, provider_factory(flaky, name="A"), provider_factory(steady, name="B")


def ask():
    return router.generate([{"role": "user", "content": "hi"}], purpose="test", classification="clear")


SECOND_PROCESS = """
import json
from apps.providers import breaker, router
from apps.providers.models import Provider
a = Provider.objects.get(name="A")
state = breaker.state(a.id).state
result = router.generate([{"role": "user", "content": "hi"}], purpose="test", classification="clear")
print(json.dumps({"state": state, "provider": result.provider, "attempts": result.attempts}))
"""
CHILD_ENV = {
    "AMAS_PROVIDER_BREAKER_FAILURES": "3",
    "AMAS_PROVIDER_BREAKER_COOLDOWN": "30",
    "AMAS_PROVIDER_CACHE_TTL": "0",
}


def test_breaker_opens_after_n_failures_and_another_process_skips_the_provider(pair, second_process):
    flaky, _, a, _ = pair
    flaky.fail_always("500")
    for _ in range(3):
        assert ask().provider == "B"
    assert breaker.state(a.id).state == breaker.OPEN
    assert len(flaky.calls()) == 3

    skipped = ask()
    assert skipped.attempts[0] == {
        "provider": "A",
        "status": "skipped",
        "elapsed_ms": 0,
        "error": "circuit open",
    }
    assert len(flaky.calls()) == 3

    seen = json.loads(second_process(SECOND_PROCESS, extra_env=CHILD_ENV))
    assert seen["state"] == "open"
    assert seen["provider"] == "B" and seen["attempts"][0]["status"] == "skipped"
    assert len(flaky.calls()) == 3  # the other process did not contact A either


def test_half_open_after_cool_down_then_closed_after_successes(pair, settings, second_process):
    flaky, _, a, _ = pair
    flaky.fail_always("500")
    for _ in range(3):
        ask()
    assert breaker.state(a.id).state == breaker.OPEN
    flaky.recover()
    settings.AMAS_PROVIDER_BREAKER_COOLDOWN = 0.05
    time.sleep(0.1)  # the cool-down has passed

    first = ask()  # the probe
    assert first.provider == "A"
    assert breaker.state(a.id).state == breaker.HALF_OPEN
    second = ask()
    assert second.provider == "A"
    assert breaker.state(a.id).state == breaker.CLOSED

    seen = json.loads(
        second_process(SECOND_PROCESS, extra_env={**CHILD_ENV, "AMAS_PROVIDER_BREAKER_COOLDOWN": "0.05"})
    )
    assert seen["state"] == "closed" and seen["provider"] == "A"


def test_a_failed_probe_reopens_the_circuit(pair, settings):
    flaky, _, a, _ = pair
    flaky.fail_always("500")
    for _ in range(3):
        ask()
    settings.AMAS_PROVIDER_BREAKER_COOLDOWN = 0.05
    time.sleep(0.1)
    result = ask()
    assert [x["status"] for x in result.attempts][:1] == ["server"]  # probed, failed
    settings.AMAS_PROVIDER_BREAKER_COOLDOWN = 30.0
    assert breaker.state(a.id).state == breaker.OPEN
    assert ask().attempts[0]["status"] == "skipped"


def test_half_open_lets_one_probe_through_at_a_time(pair, settings):
    _, _, a, _ = pair
    for _ in range(3):
        breaker.record_failure(a.id, "boom")
    settings.AMAS_PROVIDER_BREAKER_COOLDOWN = 0.05
    time.sleep(0.1)
    assert breaker.allow(a.id) == (True, "half_open")
    assert breaker.allow(a.id) == (False, "half_open")  # the probe is out
    breaker.release(a.id)
    assert breaker.allow(a.id) == (True, "half_open")


def test_successes_reset_the_failure_count(pair):
    flaky, _, a, _ = pair
    flaky.fail("500", times=2)
    ask(), ask()
    assert breaker.state(a.id).failures == 2
    ask()
    assert breaker.state(a.id).failures == 0 and breaker.state(a.id).state == breaker.CLOSED


def test_rate_limits_and_bad_requests_do_not_trip_the_breaker(pair):
    flaky, _, a, _ = pair
    Provider.objects.filter(pk=a.pk).update(max_retries=0)
    flaky.fail("429", times=5, retry_after=0)
    for _ in range(5):
        ask()
    assert breaker.state(a.id).failures == 0
