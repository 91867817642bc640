"""The decision engine learns from results: three agents doing the same job with true success
rates 0.9 / 0.6 / 0.3 and costs 0.10 / 0.05 / 0.01 per task."""

import random

import pytest

from apps.agents.planner import plan_for_task
from tests.agents import sim_agents
from tests.agents.conftest import only_agents
from tests.agents.factories import make_config
from tests.tasks.factories import make_task, record_result, running_step

pytestmark = pytest.mark.django_db

TRUTH = {"sim_good": (0.9, 0.10), "sim_fair": (0.6, 0.05), "sim_poor": (0.3, 0.01)}
RELIABILITY = {"reliability": 0.8, "performance": 0.1, "cost": 0.1}
COST = {"reliability": 0.2, "performance": 0.0, "cost": 0.8}


@pytest.fixture
def configs():
    with only_agents(sim_agents.GoodAgent, sim_agents.FairAgent, sim_agents.PoorAgent):
        yield {t: make_config(t, concurrency_limit=2) for t in TRUTH}


def simulate(organization, weights, rounds, rng, task_type="investigation"):
    picks = []
    for _ in range(rounds):
        task = make_task(organization, task_type=task_type, parameters={"decision_weights": weights})
        plan = plan_for_task(task, rng=rng)
        assert len(plan.steps) == 1, plan.explanation
        step = plan.steps[0]
        success, cost = TRUTH[step.agent_type]
        record_result(
            task,
            agent_type=step.agent_type,
            config_id=step.agent_config_id,
            ok=rng.random() < success,
            ms=int(rng.gauss(1000, 100)),
            cost=cost,
        )
        picks.append(step.agent_type)
    return picks


def test_it_learns_to_pick_the_most_reliable_agent(organization, configs):
    rng = random.Random(20261126)
    simulate(organization, RELIABILITY, 300, rng)
    picks = simulate(organization, RELIABILITY, 100, rng)
    assert picks.count("sim_good") >= 90, {t: picks.count(t) for t in TRUTH}


def test_it_picks_the_cheap_agent_when_cost_matters_most(organization, configs):
    rng = random.Random(7)
    simulate(organization, COST, 300, rng, task_type="data_analysis")
    picks = simulate(organization, COST, 100, rng, task_type="data_analysis")
    assert picks.count("sim_poor") >= 90, {t: picks.count(t) for t in TRUTH}


def test_an_agent_at_its_concurrency_limit_is_not_picked_while_others_fit(organization, configs):
    rng = random.Random(3)
    simulate(organization, RELIABILITY, 200, rng)
    busy = make_task(organization)
    for _ in range(configs["sim_good"].concurrency_limit):
        running_step(busy, agent_type="sim_good", config_id=configs["sim_good"].pk)

    picks = simulate(organization, RELIABILITY, 30, rng)

    assert "sim_good" not in picks
    plan = plan_for_task(make_task(organization, parameters={"decision_weights": RELIABILITY}), rng=rng)
    good = next(c for c in plan.explanation["candidates"] if c["agent"] == "sim_good")
    assert good["chosen"] is False
    assert good["reason"] == "at its concurrency limit (2/2)"
    assert good["stats"]["running"] == 2


def test_an_agent_at_its_limit_still_runs_when_nothing_else_fits(organization, configs):
    for agent_type in ("sim_fair", "sim_poor"):
        configs[agent_type].enabled = False
        configs[agent_type].save(update_fields=["enabled"])
    busy = make_task(organization)
    for _ in range(2):
        running_step(busy, agent_type="sim_good", config_id=configs["sim_good"].pk)

    plan = plan_for_task(make_task(organization), rng=random.Random(1))

    assert [s.agent_type for s in plan.steps] == ["sim_good"]
    assert "waits for a slot" in plan.explanation["candidates"][0]["reason"]
