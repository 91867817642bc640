"""The ledger's usage on a step's Result, and when the result hook may skip asking the ledger.

Steps run in-process through the real step runner (claim, agent thread, outcome transaction);
queries are counted with CaptureQueriesContext. The retry case writes its first attempt's ledger
row from another process (the second_process fixture), whose calls this process never saw."""

import threading

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from apps.agents.base import Agent, AgentContext, AgentResult
from apps.agents.registry import agent_registry
from apps.providers import attribution
from apps.providers.models import ProviderCall
from apps.tasks.execution import step_execute
from apps.tasks.models import Result, Task, TaskStep
from tests.tasks import agents

pytestmark = pytest.mark.django_db(transaction=True)


class ThreadCallingAgent(Agent):
    """Makes its router call from a thread it starts (the hook must still see it)."""

    type = "test_thread_caller"
    label = "Thread caller"
    capabilities = frozenset({"echo"})
    task_types = frozenset({"custom"})

    def run(self, ctx: AgentContext) -> AgentResult:
        out: list[str] = []
        worker = threading.Thread(target=lambda: out.append(ctx.ai.summarise("One. Two. Three.")))
        worker.start()
        worker.join()
        # Figures the ledger must replace: the Result carries the ledger's, not these.
        return AgentResult(data={"summary": out[0]}, summary=out[0], tokens_in=999, tokens_out=999)


@pytest.fixture(autouse=True)
def step_agents(settings):
    settings.AMAS_PROVIDER_CACHE_TTL = 0
    with agent_registry.registered(*agents.ALL, ThreadCallingAgent):
        yield


def queued_step(analyst, agent_type: str, *, step_attempt: int = 0, task_attempt: int = 0) -> TaskStep:
    task = Task.objects.create(
        organization=analyst.organization,
        created_by=analyst,
        title="t",
        task_type="custom",
        classification="green",
        target="alpha beta gamma",
        status="queued",
        attempt=task_attempt,
    )
    return TaskStep.objects.create(task=task, agent_type=agent_type, status="queued", attempt=step_attempt)


def ledger_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "providers_providercall" in q["sql"]]


def test_a_step_whose_agent_thread_calls_the_router_gets_the_ledgers_usage(analyst):
    step = queued_step(analyst, "test_thread_caller")
    outcome = step_execute(step.pk, "celery-thread-caller")
    assert outcome.status == "completed", outcome
    result = Result.objects.get(step=step)
    ledger = ProviderCall.objects.filter(step=step).aggregate(i=Sum("tokens_in"), o=Sum("tokens_out"))
    assert ledger["i"] > 0
    assert (result.tokens_in, result.tokens_out) == (ledger["i"], ledger["o"])
    assert step.pk not in attribution._noted  # consumed by the hook


def test_a_first_attempt_step_without_router_calls_does_not_query_the_ledger(analyst):
    step = queued_step(analyst, "test_echo")
    with CaptureQueriesContext(connection) as queries:
        outcome = step_execute(step.pk, "celery-echo")
    assert outcome.status == "completed", outcome
    assert ledger_queries(queries.captured_queries) == []
    result = Result.objects.get(step=step)
    assert (result.tokens_in, result.tokens_out) == (3, 2)  # the agent's own figures


def test_without_the_shortcut_the_same_step_queries_the_ledger(analyst, monkeypatch):
    """The counter above can fail: the hook's query shows up in it when the step may have rows."""
    monkeypatch.setattr(attribution, "_overflowed", True)
    step = queued_step(analyst, "test_echo")
    with CaptureQueriesContext(connection) as queries:
        assert step_execute(step.pk, "celery-echo").status == "completed"
    assert len(ledger_queries(queries.captured_queries)) == 1


@pytest.mark.parametrize(
    ("step_attempt", "task_attempt"),
    [(1, 0), (0, 1)],  # a retried / re-delivered step; a retried task (its steps' attempt reset to 0)
)
def test_a_rerun_whose_earlier_run_called_the_router_in_another_process_gets_its_usage(
    analyst, second_process, step_attempt, task_attempt
):
    step = queued_step(analyst, "test_echo", step_attempt=step_attempt, task_attempt=task_attempt)
    second_process(
        "from apps.providers import bookkeeping, router\n"
        "from apps.tasks.models import TaskStep\n"
        f"step = TaskStep.objects.select_related('task').get(pk={step.pk})\n"
        "router.generate([{'role': 'user', 'content': 'hello there'}], task=step.task, step=step,"
        " purpose='first attempt')\n"
        "bookkeeping.flush()\n"
    )
    assert step.pk not in attribution._noted  # this process never made a call for it
    with CaptureQueriesContext(connection) as queries:
        assert step_execute(step.pk, "celery-rerun").status == "completed"
    assert ledger_queries(queries.captured_queries)
    result = Result.objects.get(step=step)
    row = ProviderCall.objects.get(step=step)
    assert row.tokens_in > 0
    assert (result.tokens_in, result.tokens_out) == (row.tokens_in, row.tokens_out)


def test_a_full_record_switches_the_shortcut_off_instead_of_forgetting_a_step(monkeypatch):
    monkeypatch.setattr(attribution, "MAX_NOTED", 2)
    monkeypatch.setattr(attribution, "_noted", {})
    monkeypatch.setattr(attribution, "_overflowed", False)
    attribution.step_call_note(1)
    attribution.step_call_note(2)
    attribution.step_call_note(3)  # full: nothing is evicted silently, every step is asked about
    assert attribution._overflowed
    assert attribution._noted == {}
