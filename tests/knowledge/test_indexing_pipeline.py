"""End to end on the real pipeline: a task runs on a Celery worker, its result hook puts the
agent's entities and relations into the graph and queues indexing, which a worker embeds through
the router (built-in offline provider); search and the graph API then find them."""

import time
from http import HTTPStatus

import pytest

from apps.agents.base import Agent, AgentContext, AgentResult, Entity, Relation
from apps.agents.registry import agent_registry
from apps.knowledge.models import Chunk, ChunkEmbedding

pytestmark = pytest.mark.django_db(transaction=True)


class IntelAgent(Agent):
    type = "test_knowledge_intel"
    label = "Intel (test)"
    task_types = frozenset({"custom"})

    def run(self, ctx: AgentContext) -> AgentResult:
        target = ctx.task.target
        return AgentResult(
            summary=f"{target} resolves to 192.0.2.44 and hosts a credential phishing kit",
            data={"findings": [{"title": "Phishing kit imitating a bank login"}], "score": 7},
            entities=[Entity("domain", target), Entity("url", f"https://{target}/login")],
            relations=[
                Relation(Entity("domain", target), "resolves_to", Entity("ip", "192.0.2.44")),
                Relation(
                    Entity("url", f"https://{target}/login"),
                    "imitates",
                    Entity("organization", "Example Bank"),
                    {"model": "builtin-extractive"},
                ),
            ],
        )


def wait_until(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def test_results_become_searchable_and_feed_the_graph(client, analyst, builtin_provider, celery_worker):
    client.force_login(analyst)
    with agent_registry.registered(IntelAgent):
        response = client.post(
            "/api/v1/tasks",
            {
                "title": "Check bank lookalike",
                "description": "Suspicious lookalike of the bank's login page",
                "task_type": "custom",
                "target": "examp1e-bank.test",
                "agents": ["test_knowledge_intel"],
            },
            content_type="application/json",
        )
        assert response.status_code == HTTPStatus.CREATED, response.content
        task_id = response.json()["id"]
        wait_until(lambda: client.get(f"/api/v1/tasks/{task_id}").json()["status"] == "completed")
        wait_until(
            lambda: (
                ChunkEmbedding.objects.filter(chunk__task_id=task_id, chunk__source_kind="result").exists()
                and ChunkEmbedding.objects.filter(chunk__task_id=task_id, chunk__source_kind="task").exists()
            )
        )

    assert Chunk.objects.filter(task_id=task_id, source_kind="result").count() >= 1
    found = client.get("/api/v1/search", {"q": "phishing kit"}).json()["results"]
    result_hits = [h for h in found if h["source_kind"] == "result"]
    assert result_hits[0]["task_id"] == task_id
    assert result_hits[0]["agent"] == "test_knowledge_intel"
    assert "<mark>" in result_hits[0]["highlight"]

    graph = client.get(
        "/api/v1/graph/neighbourhood", {"kind": "domain", "value": "examp1e-bank.test", "depth": 1}
    )
    edge = graph.json()["edges"][0]
    assert (edge["source"], edge["type"], edge["target"]) == (
        "domain:examp1e-bank.test",
        "resolves_to",
        "ip:192.0.2.44",
    )
    assert edge["provenance"][0]["task_id"] == task_id
    assert edge["provenance"][0]["agent"] == "test_knowledge_intel"
    imitates = client.get(
        "/api/v1/graph/neighbourhood", {"kind": "organization", "value": "Example Bank"}
    ).json()
    assert imitates["edges"][0]["provenance"][0]["model"] == "builtin-extractive"
    entities = {e["id"] for e in client.get(f"/api/v1/tasks/{task_id}/entities").json()}
    assert {"domain:examp1e-bank.test", "ip:192.0.2.44", "organization:example bank"} <= entities
