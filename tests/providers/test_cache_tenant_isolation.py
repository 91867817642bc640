"""The response cache never crosses organisations: a "cached" answer would tell one tenant that
another submitted the same text. Two organisations send identical requests through the real
router, Redis-backed cache and a fake vendor speaking the vendor's wire format."""

import pytest

from apps.providers import cache, router
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "summarise the leak at example.org"}]


@pytest.fixture
def fake(vendor_factory, provider_factory, only_providers):
    vendor = vendor_factory("openai")
    provider_factory(vendor, name="only")
    return vendor


def ask(task):
    return router.generate(MESSAGES, task=task, purpose="test", classification="green")


def test_one_tenants_request_is_never_a_hit_for_another(fake, user_factory):
    first_org = organization_get_or_create(name="First Ltd")
    second_org = organization_get_or_create(name="Second Ltd")
    first = make_task(first_org, user=user_factory(org=first_org), classification="green")
    second = make_task(second_org, user=user_factory(org=second_org), classification="green")

    assert ask(first).cached is False
    assert ask(second).cached is False  # the same text, but the other tenant's entry is not visible
    assert len(fake.calls()) == 2
    # Each tenant still gets its own hits, from L1 and after L1 is gone from Redis (L2).
    assert ask(first).cached is True
    cache.clear_local()
    assert ask(second).cached is True
    assert len(fake.calls()) == 2


def test_calls_of_a_signed_in_user_are_keyed_by_their_organisation(fake, user_factory):
    first_org = organization_get_or_create(name="First Ltd")
    second_org = organization_get_or_create(name="Second Ltd")
    alice, bob = user_factory(org=first_org), user_factory(org=second_org)
    assert router.generate(MESSAGES, user=alice, purpose="test", classification="green").cached is False
    assert router.generate(MESSAGES, user=bob, purpose="test", classification="green").cached is False
    assert router.generate(MESSAGES, user=alice, purpose="test", classification="green").cached is True
