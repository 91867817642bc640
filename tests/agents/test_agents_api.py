from http import HTTPStatus

import pytest

from apps.agents.concurrency import agent_slot_acquire
from apps.agents.models import AgentConfig
from apps.agents.registry import agent_registry
from tests.agents import sim_agents
from tests.agents.factories import make_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, user_factory):
    def login(role):
        from tests.users.factories import enable_totp

        user = user_factory(role=role)
        if role == "admin":
            enable_totp(user)  # admins need a second factor, for the API too
        client.force_login(user)
        return client

    return login


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/v1/agents").status_code == HTTPStatus.UNAUTHORIZED


def test_a_viewer_lists_the_configured_agents(as_role):
    with agent_registry.registered(sim_agents.GoodAgent):
        config = make_config(
            "sim_good", secrets={"token": "s3cret"}, parameters={"depth": 2}, concurrency_limit=3
        )
        agent_slot_acquire(config.pk, 1)
        response = as_role("viewer").get("/api/v1/agents")

    assert response.status_code == HTTPStatus.OK
    body = {a["name"]: a for a in response.json()}
    assert set(body) >= set(AgentConfig.objects.values_list("name", flat=True))
    mine = body[config.name]
    assert mine["agent_type"] == "sim_good"
    assert mine["label"] == "Good"
    assert mine["registered"] is True
    assert mine["capabilities"] == ["enrich"]
    assert mine["task_types"] == ["data_analysis", "investigation"]
    assert mine["parameters"] == {"depth": 2}
    assert mine["parameter_schema"]["properties"]["depth"]["type"] == "integer"
    assert mine["has_secrets"] is True
    assert "s3cret" not in response.content.decode()
    assert (mine["concurrency_limit"], mine["slots_in_use"]) == (3, 1)
    assert mine["health"] == {"ok": None, "message": "", "checked_at": None}


def test_get_one_agent_and_a_missing_one(as_role):
    config = AgentConfig.objects.get(agent_type="aggregator")
    client = as_role("analyst")
    response = client.get(f"/api/v1/agents/{config.pk}")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["agent_type"] == "aggregator"
    assert client.get("/api/v1/agents/999999").status_code == HTTPStatus.NOT_FOUND


def test_only_admins_run_health_checks(as_role):
    config = AgentConfig.objects.get(agent_type="aggregator")
    assert as_role("analyst").post(f"/api/v1/agents/{config.pk}/health").status_code == HTTPStatus.FORBIDDEN

    response = as_role("admin").post(f"/api/v1/agents/{config.pk}/health")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["ok"] is True
    assert response.json()["message"] == "ok"
    config.refresh_from_db()
    assert config.last_health_ok is True
