"""Response cache: identical requests are answered from L1, then L2 (Redis, shared by processes);
never across classifications."""

import json

import pytest

from apps.providers import cache, router
from apps.providers.models import CallOutcome, ProviderCall

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "what is example.org"}]


@pytest.fixture
def fake(vendor_factory, provider_factory, only_providers):
    vendor = vendor_factory("openai")
    provider_factory(vendor, name="only")
    return vendor


def test_identical_request_is_a_cache_hit(fake):
    first = router.generate(MESSAGES, purpose="test", classification="green")
    second = router.generate(MESSAGES, purpose="test", classification="green")
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text and second.provider == "only" and second.cost == 0
    assert len(fake.calls()) == 1
    assert [r.outcome for r in ProviderCall.objects.order_by("id")] == [CallOutcome.OK, CallOutcome.CACHED]


def test_no_hit_across_classifications(fake):
    router.generate(MESSAGES, purpose="test", classification="clear")
    other = router.generate(MESSAGES, purpose="test", classification="green")
    assert other.cached is False
    assert len(fake.calls()) == 2


def test_different_parameters_miss(fake):
    router.generate(MESSAGES, purpose="test", classification="clear")
    assert router.generate(MESSAGES, purpose="test", classification="clear", max_tokens=99).cached is False
    assert router.generate(MESSAGES, purpose="test", classification="clear", temperature=0.9).cached is False


def test_l2_serves_after_l1_is_gone_and_in_another_process(fake, second_process):
    router.generate(MESSAGES, purpose="test", classification="clear")
    cache.clear_local()
    assert router.generate(MESSAGES, purpose="test", classification="clear").cached is True
    code = (
        "import json; from apps.providers import router\n"
        f"r = router.generate({MESSAGES!r}, purpose='test', classification='clear')\n"
        "print(json.dumps([r.cached, r.text]))"
    )
    cached, text = json.loads(second_process(code))
    assert cached is True and text.startswith("openai reply")
    assert len(fake.calls()) == 1


def test_cache_can_be_bypassed_and_disabled(fake, settings):
    router.generate(MESSAGES, purpose="test", classification="clear")
    assert router.generate(MESSAGES, purpose="test", classification="clear", use_cache=False).cached is False
    settings.AMAS_PROVIDER_CACHE_TTL = 0
    assert router.generate(MESSAGES, purpose="test", classification="clear").cached is False
    assert len(fake.calls()) == 3
