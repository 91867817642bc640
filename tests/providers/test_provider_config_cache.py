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


def test_a_provider_enabled_in_another_process_is_used_by_a_process_that_knew_only_the_builtin(
    vendor_factory, provider_factory, only_providers, second_process
):
    """No admission confirms the cached rows when only the built-in provider is left to try: the
    router checks the version itself before answering locally."""
    vendor = vendor_factory("openai")
    external = provider_factory(vendor, name="external", enabled=False)
    Provider.objects.filter(kind="builtin").update(enabled=True)
    Provider.objects.get(kind="builtin").save()  # announce it: this process reloads
    assert ask().provider != "external"  # this process now holds the rows: built-in only

    second_process(
        "from apps.providers.models import Provider\n"
        f"p = Provider.objects.get(pk={external.pk})\n"
        "p.enabled = True\n"
        "p.save()\n"
    )
    assert ask().provider == "external"
    assert len(vendor.calls()) == 1


def test_a_budget_saved_in_another_process_applies_at_once(
    vendor_factory, provider_factory, only_providers, second_process, analyst
):
    from decimal import Decimal

    from apps.providers.errors import BudgetExceeded

    vendor = vendor_factory("openai")
    provider_factory(vendor, name="paid", cost_per_1k_input=Decimal("1"), cost_per_1k_output=Decimal("2"))
    ask_as = lambda: router.generate(  # noqa: E731
        [{"role": "user", "content": "q"}], purpose="t", classification="green", user=analyst
    )
    assert ask_as().provider == "paid"  # rows (providers and budgets) now cached here

    second_process(
        "from decimal import Decimal\n"
        "from apps.providers.models import Budget\n"
        f"Budget.objects.create(scope='per_user_day', user_id={analyst.pk}, limit_usd=Decimal('0.0001'))\n"
    )
    with pytest.raises(BudgetExceeded):
        ask_as()
    assert len(vendor.calls()) == 1


def test_a_version_pinned_block_reads_the_version_once_and_the_next_block_sees_a_change(
    vendor_factory, provider_factory, only_providers, second_process
):
    """An index drain's batch confirms its built-in calls with one version read: a change
    committed while the block runs is seen by the first call after it."""
    from apps.providers import config

    vendor = vendor_factory("openai")
    external = provider_factory(vendor, name="external", enabled=False)
    Provider.objects.filter(kind="builtin").update(enabled=True)
    Provider.objects.get(kind="builtin").save()  # announce it: this process reloads
    assert ask().provider != "external"  # rows cached here: built-in only

    with config.version_pinned():
        assert ask().provider != "external"  # the block's one version read
        second_process(
            "from apps.providers.models import Provider\n"
            f"p = Provider.objects.get(pk={external.pk})\n"
            "p.enabled = True\n"
            "p.save()\n"
        )
        assert ask().provider != "external"  # confirmed by the block's read: not re-read

    assert ask().provider == "external"  # the next call outside the block reads the version
    assert len(vendor.calls()) == 1


def test_a_stale_view_inside_a_pinned_block_is_reloaded_and_the_block_goes_on(
    vendor_factory, provider_factory, only_providers, second_process
):
    from apps.providers import config

    vendor = vendor_factory("openai")
    external = provider_factory(vendor, name="external", enabled=False)
    Provider.objects.filter(kind="builtin").update(enabled=True)
    Provider.objects.get(kind="builtin").save()
    assert ask().provider != "external"
    second_process(
        "from apps.providers.models import Provider\n"
        f"p = Provider.objects.get(pk={external.pk})\n"
        "p.enabled = True\n"
        "p.save()\n"
    )
    with config.version_pinned():  # read after the change: the cached rows are found stale
        assert ask().provider == "external"
        assert ask().provider == "external"
    assert len(vendor.calls()) == 2
