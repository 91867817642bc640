"""Run an agent the way a worker does (task and step rows, context, contributors), minus Celery."""

from apps.agents.base import AgentContext
from apps.agents.context import contribute
from apps.tasks.models import StepStatus, TaskStep
from tests.commits import commit_callbacks
from tests.tasks.factories import make_task


def run_agent(
    agent_class, organization, *, target, task_type, params=None, with_contributors=False, **task_fields
):
    task = make_task(organization, task_type=task_type, target=target, **task_fields)
    step = TaskStep.objects.create(
        task=task, agent_type=agent_class.type, status=StepStatus.RUNNING, attempt=1
    )
    progress = []
    ctx = AgentContext(
        task=task,
        step=step,
        parameters=agent_class.Params(**(params or {})),
        progress_callback=lambda pct, message: progress.append((pct, message)),
    )
    if with_contributors:
        contribute(ctx)
    # Artefacts the agent writes reach storage on commit; run the commit's moves as a worker would.
    with commit_callbacks():
        result = agent_class().run(ctx)
    result.progress = progress
    return result


def relations(result):
    return {(r.source.kind, r.source.value, r.type, r.target.kind, r.target.value) for r in result.relations}


def entities(result):
    return {(e.kind, e.value) for e in result.entities}
