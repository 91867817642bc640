from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.agents.models import AgentConfig
from apps.agents.registry import agent_registry
from apps.agents.services import agent_config_health_check
from tests.agents import sim_agents
from tests.agents.factories import make_config

pytestmark = pytest.mark.django_db

BUILTIN_TYPES = {"osint", "security", "forensics", "analysis", "ml", "aggregator"}


def test_the_migration_configures_every_built_in_agent():
    configs = AgentConfig.objects.filter(agent_type__in=BUILTIN_TYPES)
    assert {c.agent_type for c in configs} == BUILTIN_TYPES
    assert all(c.enabled for c in configs)
    assert configs.get(agent_type="security").max_classification == "amber"
    assert configs.get(agent_type="forensics").max_classification == "red"


def test_parameters_are_validated_against_the_agents_schema():
    with agent_registry.registered(sim_agents.GoodAgent):
        config = AgentConfig(agent_type="sim_good", name="good", parameters={"depth": "deep", "typo": 1})
        with pytest.raises(ValidationError) as err:
            config.full_clean()
        message = str(err.value.message_dict["parameters"])
        assert "depth" in message and "typo" in message

        config.parameters = {"depth": 3}
        config.full_clean()


def test_an_unregistered_type_is_refused_by_validation():
    config = AgentConfig(agent_type="nobody", name="nobody")
    with pytest.raises(ValidationError) as err:
        config.full_clean()
    assert "nobody" in str(err.value.message_dict["agent_type"])


def test_secrets_are_encrypted_at_rest():
    config = make_config("osint", secrets={"api_key": "sk-very-secret-value"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM agents_agentconfig WHERE id = %s", [config.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("enc:v1:")
    assert "sk-very-secret-value" not in raw
    assert AgentConfig.objects.get(pk=config.pk).secrets == {"api_key": "sk-very-secret-value"}


def test_the_health_check_is_recorded_on_the_config():
    class Unhealthy(sim_agents.GoodAgent):
        type = "sim_unhealthy"

        def check_health(self, params):
            return False, f"resolver unreachable at depth {params.depth}"

    with agent_registry.registered(Unhealthy):
        config = make_config("sim_unhealthy", parameters={"depth": 2})
        ok, message = agent_config_health_check(config=config)

    config.refresh_from_db()
    assert (ok, config.last_health_ok) == (False, False)
    assert config.last_health_message == message == "resolver unreachable at depth 2"
    assert config.last_health_at is not None


def test_the_health_check_of_an_unregistered_type_fails_cleanly():
    config = make_config("not_installed")
    ok, message = agent_config_health_check(config=config)
    assert not ok
    assert "not_installed" in message


@pytest.fixture
def admin_client(client, user_factory):
    from tests.users.factories import enable_totp

    admin = user_factory(role="admin")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    enable_totp(admin)  # staff need a second factor
    client.force_login(admin)
    return client


def test_admin_runs_the_health_check_action(admin_client):
    with agent_registry.registered(sim_agents.GoodAgent):
        config = make_config("sim_good")
        response = admin_client.post(
            "/admin/agents/agentconfig/",
            {"action": "run_health_check", "_selected_action": [config.pk]},
            follow=True,
        )
    assert response.status_code == HTTPStatus.OK
    assert f"{config.name.capitalize()}: healthy (ok)" in response.content.decode()
    config.refresh_from_db()
    assert config.last_health_ok is True


def test_admin_form_keeps_secrets_write_only(admin_client):
    with agent_registry.registered(sim_agents.GoodAgent):
        config = make_config("sim_good", secrets={"token": "hunter2-secret"})
        page = admin_client.get(f"/admin/agents/agentconfig/{config.pk}/change/").content.decode()
        assert "hunter2-secret" not in page
        assert "Stored keys: token" in page

        form = {
            "name": config.name,
            "agent_type": "sim_good",
            "description": "",
            "enabled": "on",
            "parameters": '{"depth": 2}',
            "capabilities": "[]",
            "new_secrets": "",
            "concurrency_limit": 3,
            "timeout_seconds": 60,
            "max_attempts": 2,
            "queue": "agents",
            "max_classification": "green",
            "provider_strategy": "cheapest",
        }
        response = admin_client.post(f"/admin/agents/agentconfig/{config.pk}/change/", form)
        assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:3000]
        config.refresh_from_db()
        assert config.secrets == {"token": "hunter2-secret"}  # blank keeps them
        assert (config.concurrency_limit, config.provider_strategy) == (3, "cheapest")

        response = admin_client.post(
            f"/admin/agents/agentconfig/{config.pk}/change/", {**form, "parameters": '{"depth": "x"}'}
        )
        assert response.status_code == HTTPStatus.OK
        assert "depth" in response.content.decode()

        admin_client.post(
            f"/admin/agents/agentconfig/{config.pk}/change/", {**form, "new_secrets": '{"token": "new"}'}
        )
        config.refresh_from_db()
        assert config.secrets == {"token": "new"}
