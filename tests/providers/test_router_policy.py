"""Classification-aware routing: a provider only receives data its allowed levels cover; when no
allowed provider can serve, the call fails naming the policy and nothing is sent elsewhere."""

from http import HTTPStatus

import pytest

from apps.providers import router
from apps.providers.errors import ClassificationPolicyError
from apps.providers.models import CallOutcome, Provider, ProviderCall
from apps.tasks.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.AMAS_PROVIDER_CACHE_TTL = 0


@pytest.fixture
def vendors(vendor_factory, provider_factory, only_providers):
    external, local = vendor_factory("openai"), vendor_factory("ollama")
    provider_factory(external, name="external", priority=1, allowed_classifications=["clear", "green"])
    provider_factory(
        local, name="local", priority=2, allowed_classifications=["clear", "green", "amber", "red"]
    )
    return external, local


def ask(**kwargs):
    return router.generate([{"role": "user", "content": "secret findings"}], purpose="test", **kwargs)


def test_green_data_may_go_to_the_external_vendor(vendors):
    external, _ = vendors
    assert ask(classification="green").provider == "external"
    assert len(external.calls()) == 1


def test_red_data_skips_the_external_vendor_entirely(vendors):
    external, local = vendors
    result = ask(classification="red")
    assert result.provider == "local"
    assert [a["provider"] for a in result.attempts] == ["local"]
    assert external.calls() == [] and len(local.calls()) == 1


def test_the_task_classification_travels_with_the_call(vendors, analyst):
    external, _ = vendors
    task = Task.objects.create(
        organization=analyst.organization,
        created_by=analyst,
        title="t",
        task_type="custom",
        classification="amber",
    )
    result = ask(task=task)
    assert result.provider == "local" and result.classification == "amber"
    assert external.calls() == []
    row = ProviderCall.objects.get()
    assert (row.task_id, row.classification, row.user_id, row.organization_id) == (
        task.id,
        "amber",
        analyst.id,
        analyst.organization_id,
    )


def test_no_allowed_provider_available_refuses_and_names_the_policy(vendors):
    external, local = vendors
    local.fail_always("500")
    with pytest.raises(ClassificationPolicyError) as info:
        ask(classification="red")
    message = info.value.message
    assert info.value.status == HTTPStatus.FORBIDDEN
    assert (
        "TLP:RED" in message and "Policy" in message and "external" in message and "local (server)" in message
    )
    assert external.calls() == []  # never sent elsewhere
    assert ProviderCall.objects.get().outcome == CallOutcome.REFUSED_POLICY


def test_no_allowed_provider_configured_refuses_without_any_request(vendors):
    external, local = vendors
    Provider.objects.filter(name="local").update(enabled=False)
    with pytest.raises(ClassificationPolicyError):
        ask(classification="amber")
    assert external.calls() == [] and local.calls() == []


def test_the_builtin_provider_accepts_every_classification(vendors):
    external, local = vendors
    Provider.objects.filter(name="local").update(enabled=False)
    Provider.objects.filter(kind="builtin").update(enabled=True)
    result = ask(classification="red")
    assert result.provider == "Built-in (offline)"
    assert external.calls() == []


def test_without_task_or_classification_the_restrictive_default_applies(vendors):
    external, _ = vendors
    assert ask().classification == "amber"
    assert external.calls() == []


def test_embeddings_respect_the_policy_too(vendors):
    external, local = vendors
    result = router.embed(["a", "b"], classification="red")
    assert result.provider == "local" and result.dimension == 8 and len(result.vectors) == 2
    assert external.calls() == []
    assert router.embed(["a"], classification="clear").provider == "external"


def test_a_caller_cannot_lower_the_tasks_classification(vendors, analyst):
    external, _ = vendors
    task = Task.objects.create(
        organization=analyst.organization,
        created_by=analyst,
        title="t",
        task_type="custom",
        classification="red",
    )
    result = ask(task=task, classification="clear")
    assert result.classification == "red" and result.provider == "local"
    assert external.calls() == []
    assert router.embed(["x"], classification="clear", task=task).provider == "local"
