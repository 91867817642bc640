"""Rows for agent tests. Tasks are created directly (not through task_create) where a test
exercises the planner alone and must not start the pipeline."""

import uuid
from decimal import Decimal

from apps.agents.models import AgentConfig
from apps.tasks.models import Result, StepStatus, Task, TaskStep


def make_task(organization, *, task_type="investigation", target="example.org", **fields) -> Task:
    fields.setdefault("title", "a task")
    return Task.objects.create(organization=organization, task_type=task_type, target=target, **fields)


def make_config(agent_type: str, **fields) -> AgentConfig:
    fields.setdefault("name", f"{agent_type}-{uuid.uuid4().hex[:6]}")
    return AgentConfig.objects.create(agent_type=agent_type, **fields)


def record_result(
    task: Task, *, agent_type: str, config_id=None, ok: bool, ms: int = 1000, cost: float = 0.0
):
    """What the pipeline leaves behind for one finished step."""
    step = TaskStep.objects.create(
        task=task,
        agent_type=agent_type,
        agent_config_id=config_id,
        status=StepStatus.COMPLETED if ok else StepStatus.FAILED,
        position=task.steps.count(),
    )
    return Result.objects.create(
        task=task,
        step=step,
        agent=agent_type,
        status="completed" if ok else "failed",
        processing_time_ms=ms,
        cost=Decimal(str(cost)),
    )


def running_step(task: Task, *, agent_type: str, config_id: int) -> TaskStep:
    return TaskStep.objects.create(
        task=task,
        agent_type=agent_type,
        agent_config_id=config_id,
        status=StepStatus.RUNNING,
        position=task.steps.count(),
    )
