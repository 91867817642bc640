"""rpm/tpm limits hold across processes (Redis token buckets): wait briefly, then fall back."""

import json

import pytest

from apps.providers import ratelimit, router
from apps.providers.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)

ASK = """
import json
from apps.providers import router
r = router.generate([{"role": "user", "content": "q"}], purpose="t", classification="clear")
print(json.dumps([r.provider, [a["status"] for a in r.attempts]]))
"""
CHILD_ENV = {"AMAS_PROVIDER_CACHE_TTL": "0", "AMAS_PROVIDER_RATE_LIMIT_WAIT": "0.2"}


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AMAS_PROVIDER_CACHE_TTL = 0
    settings.AMAS_PROVIDER_RATE_LIMIT_WAIT = 0.2


@pytest.fixture
def limited(vendor_factory, provider_factory, only_providers):
    fake, spare = vendor_factory("openai"), vendor_factory("openai")
    provider = provider_factory(fake, name="limited", rpm_limit=2)
    provider_factory(spare, name="spare")
    return fake, spare, provider


def ask():
    return router.generate([{"role": "user", "content": "q"}], purpose="t", classification="clear")


def test_rpm_limit_is_shared_by_two_processes(limited, second_process):
    fake, spare, _ = limited
    assert ask().provider == "limited"
    assert json.loads(second_process(ASK, extra_env=CHILD_ENV))[0] == "limited"
    # Two requests used the minute's budget of 2, one from each process: both now fall back.
    result = ask()
    assert result.provider == "spare" and result.attempts[0]["status"] == "rate_limited"
    provider, statuses = json.loads(second_process(ASK, extra_env=CHILD_ENV))
    assert (provider, statuses) == ("spare", ["rate_limited", "ok"])
    assert len(fake.calls()) == 2


def test_a_short_wait_is_taken_instead_of_falling_back(limited, settings):
    fake, spare, provider = limited
    Provider.objects.filter(pk=provider.pk).update(rpm_limit=600)  # refills one request per 0.1 s
    while ratelimit.try_acquire(provider.id, rpm=600, tpm=0, tokens=0) == 0:
        pass  # drain the bucket: the next request has to wait for a refill
    result = ask()
    assert [(a["provider"], a["status"]) for a in result.attempts] == [("limited", "ok")]
    assert spare.calls() == []


def test_tpm_limit_counts_tokens(limited):
    fake, spare, provider = limited
    Provider.objects.filter(pk=provider.pk).update(rpm_limit=0, tpm_limit=1000)
    first = router.generate(
        [{"role": "user", "content": "q"}], purpose="t", classification="clear", max_tokens=900
    )
    assert first.provider == "limited"
    # The real usage was tiny, so the bucket got most of its tokens back:
    second = router.generate(
        [{"role": "user", "content": "q"}], purpose="t", classification="clear", max_tokens=900
    )
    assert second.provider == "limited"
    third = router.generate(
        [{"role": "user", "content": "qq"}], purpose="t", classification="clear", max_tokens=999
    )
    assert third.provider == "spare"
