"""Rows for knowledge tests. Tasks and results are created directly: these tests exercise
indexing, search and storage, not the pipeline (tests/knowledge/test_indexing_pipeline.py runs
the real one)."""

from apps.tasks.models import Result, StepStatus, Task, TaskStep


def make_task(organization, *, task_type="investigation", target="example.org", **fields) -> Task:
    fields.setdefault("title", "a task")
    return Task.objects.create(organization=organization, task_type=task_type, target=target, **fields)


def make_result(
    task: Task, *, agent: str = "osint", summary: str = "", data=None, status="completed"
) -> Result:
    step = TaskStep.objects.create(
        task=task,
        agent_type=agent,
        status=StepStatus.COMPLETED if status == "completed" else StepStatus.FAILED,
        position=task.steps.count(),
    )
    return Result.objects.create(
        task=task, step=step, agent=agent, status=status, summary=summary, data=data or {}
    )
