"""An OSINT task and a Security task submitted through the API, planned by the decision engine
and run by a real Celery worker against local DNS, RDAP and web servers."""

import time
from http import HTTPStatus

import pytest
from django.test import override_settings

from apps.agents.models import AgentConfig
from apps.tasks.models import TERMINAL_STATUSES, Result, Task
from tests.agents.servers import Reply, dns_server, http_server
from tests.agents.test_osint_agent import RDAP_DOMAIN

pytestmark = pytest.mark.django_db(transaction=True)

ZONE = """
example.org. 300 IN A 93.184.216.34
example.org. 300 IN MX 10 mail.example.org.
example.org. 300 IN TXT "v=spf1 mx -all"
_dmarc.example.org. 300 IN TXT "v=DMARC1; p=quarantine"
shop.example.org. 300 IN A 127.0.0.1
"""


@pytest.fixture
def internet():
    rdap = {"/domain/example.org": Reply.json(RDAP_DOMAIN, content_type="application/rdap+json")}
    shop = {"/": Reply.html("<title>Shop</title>", [("Server", "nginx/1.25.3")])}
    with (
        dns_server(ZONE) as (resolver, _),
        http_server(rdap) as rdap_server,
        http_server(shop) as shop_server,
        override_settings(
            AMAS_EGRESS_ALLOWLIST=["127.0.0.1"],
            AMAS_EGRESS_RESOLVERS=[resolver],
            AMAS_DNS_RESOLVERS_ALLOWED=[resolver],
        ),
    ):
        yield {"resolver": resolver, "rdap": rdap_server.url("").rstrip("/"), "shop": shop_server}


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    return client


def submit(api, **body):
    response = api.post("/api/v1/tasks", {"title": "e2e", **body}, content_type="application/json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()["id"]


def wait(task_id, timeout=60.0) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = Task.objects.get(pk=task_id)
        if task.status in TERMINAL_STATUSES:
            return task
        assert time.monotonic() < deadline, f"task stayed {task.status}"
        time.sleep(0.1)


def test_an_osint_task_runs_end_to_end(api, celery_worker, internet):
    task_id = submit(
        api,
        task_type="investigation",
        target="example.org",
        parameters={"osint": {"resolvers": [internet["resolver"]], "rdap_base_url": internet["rdap"]}},
    )
    task = wait(task_id)

    assert task.status == "completed", task.error_message
    config = AgentConfig.objects.get(agent_type="osint", name="OSINT")
    explanation = task.plan["explanation"]
    assert explanation["chosen"] == ["OSINT"]
    assert {c["agent"] for c in explanation["candidates"]} >= {"osint", "security"}
    assert next(c for c in explanation["candidates"] if c["agent"] == "security")["eligible"] is False
    (result,) = Result.objects.filter(task=task)
    assert (result.agent, result.status, result.step.agent_config_id) == ("osint", "completed", config.pk)
    assert result.data["dns"]["records"]["A"] == ["93.184.216.34"]
    assert result.data["dns"]["records"]["MX"] == [{"preference": 10, "exchange": "mail.example.org"}]
    assert result.data["dns"]["dmarc"]["tags"]["p"] == "quarantine"
    assert result.data["rdap"]["registrar"] == "RESERVED-Internet Assigned Numbers Authority"
    assert result.summary
    assert result.processing_time_ms > 0


def test_a_security_task_runs_end_to_end(api, celery_worker, internet):
    url = internet["shop"].url("/", host="shop.example.org")
    task_id = submit(api, task_type="security_scan", target=url, agents=["security"])
    task = wait(task_id)

    assert task.status == "completed", task.error_message
    (result,) = Result.objects.filter(task=task)
    assert (result.agent, result.status) == ("security", "completed")
    assert result.data["http"]["status"] == 200
    assert result.data["headers"]["grade"] == "F"
    assert result.data["exposure"]["skipped"] is True
    titles = {f["title"] for f in result.data["findings"]}
    assert {"Server banner discloses a version", "Active checks skipped", "No HTTPS"} <= titles
    assert result.data["risk_score"] > 0
    assert task.plan["explanation"]["requested"] == ["security"]
