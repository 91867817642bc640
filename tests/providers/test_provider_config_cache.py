"""The enabled providers are cached per process; a save anywhere makes every process reload."""

import pytest

from apps.providers import router
from apps.providers.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def cached(settings):
    settings.AMAS_PROVIDER_CONFIG_TTL = 300
    settings.AMAS_PROVIDER_CACHE_TTL = 0


def ask():
    return router.generate([{"role": "user", "content": "q"}], purpose="t", classification="green")


def test_a_policy_change_saved_in_another_process_applies_at_once(
    vendor_factory, provider_factory, only_providers, second_process
):
    vendor, local = vendor_factory("openai"), vendor_factory("ollama")
    provider_factory(vendor, name="external", allowed_classifications=["clear", "green"])
    provider_factory(local, name="local")
    assert ask().provider == "external"  # this process now holds the rows

    # An admin narrows the policy, in another process (the admin's web server):
    second_process(
        "from apps.providers.models import Provider\n"
        "p = Provider.objects.get(name='external')\n"
        "p.allowed_classifications = ['clear']\n"
        "p.save()\n"
    )
    assert ask().provider == "local"
    assert len(vendor.calls()) == 1


def test_updates_without_signals_are_seen_after_the_ttl(
    vendor_factory, provider_factory, only_providers, settings
):
    vendor, local = vendor_factory("openai"), vendor_factory("ollama")
    external = provider_factory(vendor, name="external")
    provider_factory(local, name="local")
    assert ask().provider == "external"
    Provider.objects.filter(pk=external.pk).update(enabled=False)
    assert ask().provider == "external"  # the cached rows, within the TTL
    settings.AMAS_PROVIDER_CONFIG_TTL = 0.000001
    assert ask().provider == "local"
