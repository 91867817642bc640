"""Task, step and result rows for tests, the one place they are made. Tasks are created directly
(not through task_create) where a test exercises one part alone (the planner, indexing, an agent)
and must not start the pipeline; tests/tasks/test_task_lifecycle.py runs the real one."""

from __future__ import annotations

from decimal import Decimal

from django.core.files.base import ContentFile

from apps.knowledge.services import artefact_create
from apps.tasks.models import Result, StepStatus, Task, TaskStep
from tests.commits import commit_callbacks


def make_task(
    organization,
    *,
    task_type: str = "investigation",
    target: str = "example.org",
    files: dict[str, bytes | str] | None = None,
    user=None,
    **fields,
) -> Task:
    """A task; `files` are attached as uploads through the real artefact service."""
    fields.setdefault("title", "a task")
    # Older call sites name the creator `created_by=`; both spellings mean the same user.
    user = fields.pop("created_by", user)
    task = Task.objects.create(
        organization=organization, task_type=task_type, target=target, created_by=user, **fields
    )
    # An upload reaches storage when its transaction commits (apps/knowledge/staging.py); inside
    # a test's transaction nothing commits, so the after-commit move runs here as a commit would.
    with commit_callbacks():
        for name, content in (files or {}).items():
            raw = content.encode() if isinstance(content, str) else content
            artefact_create(task=task, file=ContentFile(raw, name=name), uploaded_by=user)
    return task


def make_result(
    task: Task, *, agent: str = "osint", summary: str = "", data=None, status: str = "completed"
) -> Result:
    """A finished step of `agent` and its result."""
    step = TaskStep.objects.create(
        task=task,
        agent_type=agent,
        status=StepStatus.COMPLETED if status == "completed" else StepStatus.FAILED,
        position=task.steps.count(),
    )
    return Result.objects.create(
        task=task, step=step, agent=agent, status=status, summary=summary, data=data or {}
    )


def record_result(
    task: Task, *, agent_type: str, config_id=None, ok: bool, ms: int = 1000, cost: float = 0.0
) -> Result:
    """What the pipeline leaves behind for one finished step of an agent config (decision tests)."""
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
