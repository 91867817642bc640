"""ctx.ai as agents see it: bound to the task (its classification) and step (the ledger)."""

import pytest

from apps.agents.base import AgentContext, AgentParams
from apps.agents.context import contribute
from apps.providers.builtin import BUILTIN_EMBEDDING_DIM
from apps.providers.models import Provider, ProviderCall
from apps.tasks.models import Task, TaskStep
from tests.providers.test_builtin_provider import KEY_SENTENCES, REPORT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cache(settings):
    settings.AMAS_PROVIDER_CACHE_TTL = 0


def make_ctx(analyst, classification="amber"):
    task = Task.objects.create(
        organization=analyst.organization,
        created_by=analyst,
        title="t",
        task_type="document_analysis",
        classification=classification,
    )
    step = TaskStep.objects.create(task=task, agent_type="summariser")
    ctx = AgentContext(task=task, step=step, parameters=AgentParams())
    contribute(ctx)
    return ctx


def test_generate_goes_through_the_router_with_task_step_and_agent(
    analyst, vendor_factory, provider_factory, only_providers
):
    fake = vendor_factory("openai")
    provider_factory(fake, name="vendor", allowed_classifications=["clear", "green"])
    ctx = make_ctx(analyst, classification="green")
    result = ctx.ai.generate([{"role": "user", "content": "hello"}], purpose="triage")
    assert result.provider == "vendor"
    row = ProviderCall.objects.get()
    assert (row.task_id, row.step_id, row.agent, row.purpose) == (
        ctx.task.id,
        ctx.step.id,
        "summariser",
        "triage",
    )


def test_summarise_uses_an_allowed_provider(analyst, vendor_factory, provider_factory, only_providers):
    fake = vendor_factory("anthropic")
    provider_factory(fake, name="claude", allowed_classifications=["clear", "green", "amber"])
    summary = make_ctx(analyst).ai.summarise("Some long text.", max_sentences=2)
    assert summary.startswith("anthropic reply to:")
    assert "at most 2 sentences" in fake.calls("chat")[0].body["system"]


def test_summarise_falls_back_to_the_builtin_when_policy_allows_no_vendor(
    analyst, vendor_factory, provider_factory, only_providers
):
    fake = vendor_factory("openai")
    provider_factory(fake, name="vendor", allowed_classifications=["clear", "green"])
    summary = make_ctx(analyst, classification="red").ai.summarise(REPORT, max_sentences=4)
    assert summary.startswith("[Extractive summary by the AMAS built-in offline provider]")
    for sentence in KEY_SENTENCES:
        assert sentence in summary
    assert fake.calls() == []
    outcomes = list(ProviderCall.objects.order_by("id").values_list("outcome", "provider_name"))
    assert outcomes == [("refused_policy", ""), ("ok", "Built-in (offline)")]


def test_on_the_builtin_alone_everything_works(analyst):
    Provider.objects.exclude(kind="builtin").update(enabled=False)
    ctx = make_ctx(analyst, classification="red")
    assert "phishing" in ctx.ai.summarise(REPORT)
    embedded = ctx.ai.embed(["one text", "another text"])
    assert (embedded.dimension, embedded.provider, len(embedded.vectors)) == (
        BUILTIN_EMBEDDING_DIM,
        "Built-in (offline)",
        2,
    )
    assert ctx.ai.generate([{"role": "user", "content": REPORT}]).text.startswith(
        "[AMAS built-in offline provider"
    )


def test_the_agent_configs_strategy_applies(analyst, vendor_factory, provider_factory, only_providers):
    for name in ("first", "second"):
        provider_factory(vendor_factory("openai"), name=name)
    ctx = make_ctx(analyst, classification="clear")
    ctx.step.agent_config = {"provider_strategy": "round_robin"}
    contribute(ctx)
    firsts = [ctx.ai.generate([{"role": "user", "content": f"q{i}"}]).provider for i in range(4)]
    assert firsts == ["first", "second", "first", "second"]
