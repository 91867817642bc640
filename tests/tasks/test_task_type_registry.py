"""Task types come from a registry that agents extend: an agent that brings a new type makes it
submittable, runnable and labelled, with no migration; without it the type is refused (422)."""

from http import HTTPStatus

import pytest

from apps.agents.base import Agent, AgentContext, AgentResult
from apps.agents.registry import agent_registry
from apps.core.vocabulary import task_types
from apps.tasks.models import Task
from tests.tasks.conftest import submit, wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


class TriageAgent(Agent):
    """A plug-in-style agent with a task type AMAS does not ship."""

    type = "test_triage"
    label = "Phishing triage"
    task_types = frozenset({"phishing_triage"})
    task_type_labels = {"phishing_triage": "Triage a reported phishing mail"}
    target_kinds = frozenset({"text", "email", "domain", "url"})

    def run(self, ctx: AgentContext) -> AgentResult:
        return AgentResult(data={"target": ctx.task.target}, summary=f"triaged {ctx.task.task_type}")


def post(api, body):
    return api.post("/api/v1/tasks", body, content_type="application/json")


def test_an_agent_brings_a_task_type_that_runs_without_a_migration(api, celery_worker):
    with agent_registry.registered(TriageAgent):
        assert "phishing_triage" in task_types
        schema = api.get("/api/v1/openapi.json").json()
        task_in = schema["components"]["schemas"]["TaskIn"]["properties"]["task_type"]
        assert "phishing_triage" in task_in["enum"]

        created = submit(api, title="reported mail", task_type="phishing_triage", target="login-example.org")
        task = wait_for_task(created["id"])
        assert task.status == "completed", task.error_message
        assert task.task_type == "phishing_triage"
        assert task.get_task_type_display() == "Triage a reported phishing mail"
        assert [s.agent_type for s in task.steps.filter(is_aggregate=False)] == ["test_triage"]

    # The agent is gone: its type is unknown again, refused by name, and nothing is written.
    assert "phishing_triage" not in task_types
    before = Task.objects.count()
    response = post(api, {"title": "again", "task_type": "phishing_triage", "target": "x.example"})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "task_type" in response.json()["detail"]
    assert Task.objects.count() == before
    # The row written while the agent was installed keeps its type (the column has no choices).
    assert Task.objects.get(pk=created["id"]).task_type == "phishing_triage"
