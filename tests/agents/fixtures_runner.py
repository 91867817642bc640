"""Run one of the file agents directly on a task carrying the given files: a Task, a TaskStep and
Artefact rows stored through the real artefact service, then `Agent().run(ctx)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from apps.agents.base import Agent, AgentContext, AgentResult
from apps.knowledge.agent_context import contribute_storage
from apps.tasks.agent_history import contribute_history
from apps.tasks.models import Task, TaskStep
from tests.commits import commit_callbacks
from tests.tasks.factories import make_task


@pytest.fixture(autouse=False)
def media_root(settings, tmp_path):
    """Artefacts written by a test go to a throw-away folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@dataclass
class Run:
    task: Task
    step: TaskStep
    result: AgentResult
    progress: list[tuple[int, str]] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.result.data


def agent_context(task: Task, step: TaskStep, params: Any, progress: list | None = None) -> AgentContext:
    """A context with the task's files and artefacts (ctx.storage, ctx.graph) and earlier results
    (ctx.history) filled by the real contributors, as the worker fills them; no AI router unless
    run_agent asks for it."""
    record = (lambda pct, message: progress.append((pct, message))) if progress is not None else None
    ctx = AgentContext(task=task, step=step, parameters=params, progress_callback=record)
    contribute_storage(ctx)
    contribute_history(ctx)
    return ctx


def run_agent(agent_cls: type[Agent], task: Task, *, with_router: bool = False, **params: Any) -> Run:
    """`with_router`: fill every slot of the context (ctx.ai ...) the way the pipeline does."""
    step = TaskStep.objects.create(task=task, agent_type=agent_cls.type, position=task.steps.count())
    progress: list[tuple[int, str]] = []
    ctx = agent_context(task, step, agent_cls.Params(**params), progress)
    if with_router:
        from apps.agents.context import contribute

        contribute(ctx)
    # Artefacts the agent writes reach storage on commit; run the commit's moves as a worker would.
    with commit_callbacks():
        result = agent_cls().run(ctx)
    return Run(task=task, step=step, result=result, progress=progress)


def run_on_files(
    agent_cls: type[Agent],
    organization,
    files: dict[str, bytes | str],
    *,
    task_type: str,
    target: str = "",
    with_router: bool = False,
    **params: Any,
) -> Run:
    task = make_task(organization, task_type=task_type, target=target, files=files, title="file task")
    return run_agent(agent_cls, task, with_router=with_router, **params)


def submit_with_files(client, files: dict[str, bytes | str], **payload: Any):
    """POST /api/v1/tasks as multipart: the JSON in `payload`, the attachments in `files`."""
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    payload.setdefault("title", "file task")
    uploads = [
        SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content)
        for name, content in files.items()
    ]
    return client.post("/api/v1/tasks", {"payload": json.dumps(payload), "files": uploads})


def wait_for_task(task_id, timeout: float = 120.0) -> Task:
    import time

    from apps.tasks.models import TERMINAL_STATUSES

    deadline = time.monotonic() + timeout
    while True:
        task = Task.objects.get(pk=task_id)
        if task.status in TERMINAL_STATUSES:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task stayed {task.status}")
        time.sleep(0.1)
