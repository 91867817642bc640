"""How the decision engine picks candidates and explains itself (the learning is in
test_decision_simulation.py)."""

import random

import pytest
from django.test import override_settings

from apps.agents.models import AgentConfig, DecisionSettings
from apps.agents.planner import plan_for_task
from apps.core.exceptions import ValidationFailed
from tests.agents.factories import make_config
from tests.tasks.factories import make_task, record_result

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sim(only_sim_agents):
    return None


def plan(task, seed=1):
    return plan_for_task(task, rng=random.Random(seed))


def by_agent(explained):
    return {c["agent"]: c for c in explained["candidates"]}


def test_alternatives_compete_and_complementary_agents_join(organization):
    result = plan(make_task(organization, target="example.org"))

    chosen = [s.agent_type for s in result.steps]
    assert len(chosen) == 2
    assert "sim_text" in chosen  # adds the "extract" capability
    assert len({"sim_good", "sim_fair", "sim_poor"} & set(chosen)) == 1  # one of the alternatives
    candidates = by_agent(result.explanation)
    assert not candidates["sim_hash"]["eligible"]
    assert candidates["sim_hash"]["reason"] == "does not take domain targets"
    losers = [c for c in candidates.values() if c["eligible"] and not c["chosen"]]
    assert len(losers) == 2
    assert all("offers the same and scored higher" in c["reason"] for c in losers)
    assert all(set(c["scores"]) == {"reliability", "performance", "cost", "load"} for c in losers)
    assert {s.group_index for s in result.steps} == {0}


def test_target_kinds_decide_who_fits(organization):
    result = plan(make_task(organization, target="d41d8cd98f00b204e9800998ecf8427e"))
    assert sorted(s.agent_type for s in result.steps) == ["sim_hash", "sim_text"]
    assert result.explanation["target_kinds"] == ["hash"]


def test_task_type_must_match(organization):
    with pytest.raises(ValidationFailed) as err:
        plan(make_task(organization, task_type="clustering"))
    assert "clustering" in err.value.message


def test_an_agent_may_not_see_a_task_above_its_classification(organization):
    make_config("sim_text", max_classification="green")
    result = plan(make_task(organization, target="example.org", classification="amber"))
    text = by_agent(result.explanation)["sim_text"]
    assert not text["eligible"]
    assert text["reason"] == "may receive up to TLP:GREEN, the task is TLP:AMBER"


def test_configured_types_run_only_through_enabled_configs(organization):
    disabled = make_config("sim_text", enabled=False)
    result = plan(make_task(organization, target="example.org"))
    assert "sim_text" not in [s.agent_type for s in result.steps]
    assert disabled.pk not in [c["config_id"] for c in result.explanation["candidates"]]


def test_a_planned_step_carries_its_config_but_not_its_secrets(organization):
    for other in ("sim_good", "sim_fair", "sim_poor"):
        make_config(other, enabled=False)
    config = make_config(
        "sim_text",
        parameters={"x": 1},
        secrets={"token": "never-in-a-plan"},
        timeout_seconds=42,
        queue="slow",
        max_attempts=1,
        provider_strategy="cheapest",
    )
    result = plan(make_task(organization, target="example.org"))
    (step,) = result.steps
    assert (step.agent_config_id, step.timeout_seconds, step.queue, step.max_attempts) == (
        config.pk,
        42,
        "slow",
        1,
    )
    assert step.agent_config["parameters"] == {"x": 1}
    assert step.agent_config["provider_strategy"] == "cheapest"
    assert "never-in-a-plan" not in str(result.as_dict())


def test_requested_agents_are_honoured_even_outside_their_task_types(organization):
    result = plan(
        make_task(organization, task_type="custom", target="example.org", requested_agents=["sim_hash"])
    )
    assert [s.agent_type for s in result.steps] == ["sim_hash"]
    assert result.explanation["requested"] == ["sim_hash"]
    assert "requested by the user" in result.explanation["candidates"][0]["reason"]


def test_an_unknown_requested_agent_is_named(organization):
    with pytest.raises(ValidationFailed) as err:
        plan(make_task(organization, requested_agents=["sim_good", "no_such_agent"]))
    assert "no_such_agent" in err.value.message
    assert err.value.extra == {"agent": "no_such_agent"}


def test_a_requested_agent_must_be_enabled_and_cleared(organization):
    make_config("sim_good", enabled=False)
    with pytest.raises(ValidationFailed) as err:
        plan(make_task(organization, requested_agents=["sim_good"]))
    assert "sim_good" in err.value.message

    make_config("sim_fair", max_classification="clear")
    with pytest.raises(ValidationFailed) as err:
        plan(make_task(organization, requested_agents=["sim_fair"], classification="red"))
    assert "TLP:CLEAR" in err.value.message


def test_of_several_configs_of_a_requested_type_the_best_runs(organization):
    good = make_config("sim_good", name="good-a")
    bad = make_config("sim_good", name="good-b")
    task = make_task(organization)
    for _ in range(30):
        record_result(task, agent_type="sim_good", config_id=good.pk, ok=True)
        record_result(task, agent_type="sim_good", config_id=bad.pk, ok=False)

    result = plan(make_task(organization, requested_agents=["sim_good"]))

    assert [s.agent_config_id for s in result.steps] == [good.pk]


@override_settings(AMAS_DECISION_WEIGHTS={"performance": 1, "cost": 1, "reliability": 2})
def test_weights_come_from_settings_then_admin_then_the_task(organization):
    result = plan(make_task(organization))
    assert result.explanation["weights"] == {"performance": 0.25, "cost": 0.25, "reliability": 0.5}

    DecisionSettings.objects.create(cost_weight=2)
    result = plan(make_task(organization))
    assert result.explanation["weights"] == {"performance": 0.2, "cost": 0.4, "reliability": 0.4}
    assert result.explanation["weight_sources"]["admin"] == {"cost": 2}

    result = plan(
        make_task(organization, parameters={"decision_weights": {"reliability": 0, "performance": 0}})
    )
    assert result.explanation["weights"] == {"performance": 0.0, "cost": 1.0, "reliability": 0.0}


@pytest.mark.parametrize(
    "weights",
    [{"speed": 1}, {"cost": -1}, {"cost": "cheap"}, {"cost": 0, "performance": 0, "reliability": 0}, [1, 2]],
)
def test_bad_task_weights_are_refused(organization, weights):
    with pytest.raises(ValidationFailed):
        plan(make_task(organization, parameters={"decision_weights": weights}))


def test_history_shows_in_the_explanation(organization):
    for other in ("sim_fair", "sim_poor", "sim_text"):
        make_config(other, enabled=False)
    config = make_config("sim_good")
    history = make_task(organization)
    record_result(history, agent_type="sim_good", config_id=config.pk, ok=True, ms=1000, cost=0.5)
    record_result(history, agent_type="sim_good", config_id=config.pk, ok=False, ms=2000, cost=0.25)
    DecisionSettings.objects.create(explore=False)

    result = plan(make_task(organization))

    stats = result.explanation["candidates"][0]["stats"]
    assert (stats["successes"], stats["failures"]) == (1, 1)
    assert stats["success_mean"] == 0.5
    assert stats["sampled_success"] == 0.5  # exploration off: the posterior mean
    assert stats["latency_ewma_ms"] == 1300.0  # 0.3 * 2000 + 0.7 * 1000
    assert stats["mean_cost"] == 0.375
    assert result.explanation["explore"] is False


def test_an_agent_nobody_configured_runs_with_its_defaults(organization):
    assert not AgentConfig.objects.filter(agent_type="sim_text").exists()
    result = plan(make_task(organization, target="free text about things"))
    (step,) = result.steps
    assert (step.agent_type, step.agent_config_id, step.agent_config) == ("sim_text", None, {})


def test_requested_agents_run_in_the_order_asked(organization):
    for order in (["sim_text", "sim_hash"], ["sim_hash", "sim_text"]):
        result = plan(make_task(organization, task_type="custom", target="some text", requested_agents=order))
        assert [s.agent_type for s in result.steps] == order


def test_the_provider_ledger_counts_towards_expected_cost(organization):
    from apps.providers.models import ProviderCall

    for other in ("sim_fair", "sim_poor", "sim_text"):
        make_config(other, enabled=False)
    config = make_config("sim_good")
    history = make_task(organization)
    quiet = record_result(history, agent_type="sim_good", config_id=config.pk, ok=True, cost=0.0)
    for cost in ("0.15", "0.05"):
        ProviderCall.objects.create(task=history, step=quiet.step, agent="sim_good", cost=cost, outcome="ok")
    record_result(history, agent_type="sim_good", config_id=config.pk, ok=True, cost=0.1)  # agent reported it

    result = plan(make_task(organization))

    assert result.explanation["candidates"][0]["stats"]["mean_cost"] == 0.15  # (0.2 + 0.1) / 2
