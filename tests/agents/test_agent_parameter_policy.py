"""Agent parameters stay inside the admin's policy: a task cannot name a CA bundle (a path on the
worker) nor send the OSINT agent's DNS to a resolver the admin did not allow, and every custom
resolver, the admin's too, passes the egress policy."""

import json
from http import HTTPStatus

import pytest
from django.test import Client, override_settings

from apps.agents.osint import OsintAgent
from apps.agents.security import SecurityAgent
from apps.core.egress import EgressRefused, dns_resolver
from apps.tasks.models import Task
from apps.users.services import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(analyst):
    secret = token_create(user=analyst, name="t", scopes=["tasks:read", "tasks:write"]).secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def submit(api, agent, parameters):
    body = {
        "title": "t",
        "task_type": "investigation",
        "target": "example.org",
        "agents": [agent],
        "parameters": {agent: parameters},
    }
    return api.post("/api/v1/tasks", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("agent", ["osint", "security"])
def test_a_task_cannot_name_a_ca_bundle(api, agent):
    response = submit(api, agent, {"ca_bundle": "/etc/passwd"})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["field"] == f"parameters.{agent}.ca_bundle"
    assert "admin" in response.json()["detail"]
    assert not Task.objects.exists()


def test_a_task_cannot_send_dns_to_a_resolver_nobody_allowed(api):
    response = submit(api, "osint", {"resolvers": ["9.9.9.9", "203.0.113.53:5353"]})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["field"] == "parameters.osint.resolvers.0"
    assert "AMAS_DNS_RESOLVERS_ALLOWED" in response.json()["detail"]


@override_settings(AMAS_DNS_RESOLVERS_ALLOWED=["9.9.9.9", "[2620:fe::fe]:53"])
def test_a_task_may_pick_resolvers_from_the_allowlist(api):
    assert (
        submit(api, "osint", {"resolvers": ["9.9.9.9:53", "2620:fe::fe"]}).status_code == HTTPStatus.CREATED
    )
    refused = submit(api, "osint", {"resolvers": ["9.9.9.9", "1.1.1.1"]})
    assert refused.json()["field"] == "parameters.osint.resolvers.1"


def test_admin_only_values_of_stored_tasks_are_ignored_at_run_time():
    """A task stored before ca_bundle became the admin's still runs with the admin's bundle."""
    params = OsintAgent.Params.from_config_and_task(
        {"ca_bundle": "/etc/amas/ca.pem"}, {"ca_bundle": "/etc/passwd", "dns_timeout": 2.0}
    )
    assert params.ca_bundle == "/etc/amas/ca.pem" and params.dns_timeout == 2.0
    assert SecurityAgent.Params.from_config_and_task({}, {"ca_bundle": "/etc/shadow"}).ca_bundle == ""


@pytest.mark.parametrize("server", ["127.0.0.1:5353", "10.0.0.53", "169.254.169.254", "[::1]:53"])
def test_resolvers_pass_the_egress_policy(server):
    with pytest.raises(EgressRefused):
        dns_resolver([server])
    ok, message = OsintAgent().check_health(OsintAgent.Params(resolvers=[server], dns_timeout=0.2))
    assert not ok and "Refused" in message


def test_an_admin_allowlisted_resolver_address_is_used():
    with override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"]):
        resolver = dns_resolver(["127.0.0.1:5353"])
    assert [(ns.address, ns.port) for ns in resolver.nameservers] == [("127.0.0.1", 5353)]
