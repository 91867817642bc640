"""Rebuild a task's state from its events alone (event sourcing). The rows are a projection of
the events; `task_replay` is how we check that and how history can be re-projected."""

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from apps.tasks.models import TaskEvent


@dataclass
class ReplayedStep:
    step_id: int
    agent: str
    group: int
    aggregate: bool = False
    status: str = "pending"
    attempt: int = 0
    progress: int = 0
    error: str = ""


@dataclass
class ReplayedTask:
    task_id: str
    status: str = "pending"
    progress: int = 0
    attempt: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    steps: dict[int, ReplayedStep] = field(default_factory=dict)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # by step id
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""


_STEP_STATUS = {
    "step.started": "running",
    "step.completed": "completed",
    "step.failed": "failed",
    "step.cancelled": "cancelled",
    "step.timed_out": "timed_out",
    "step.retrying": "queued",
    "step.queued": "queued",
}


def _task_progress(state: ReplayedTask) -> int:
    work = [s for s in state.steps.values() if not s.aggregate]
    if not work:
        return 0
    return int(sum(100 if s.status == "completed" else s.progress for s in work) / len(work))


def task_replay(task_id: UUID | str) -> ReplayedTask:
    state = ReplayedTask(task_id=str(task_id))
    for event in TaskEvent.objects.filter(task_id=task_id).order_by("seq").iterator():
        _apply(state, event.type, event.payload)
    return state


def _apply(state: ReplayedTask, type: str, payload: dict[str, Any]) -> None:
    if type == "task.created":
        state.fields = dict(payload)
        return
    if type.startswith("task."):
        state.status = payload.get("status", state.status)
        if type == "task.queued":
            if "retry" in payload:
                state.attempt = payload["retry"]
                for step_id in payload.get("reset_steps", []):
                    step = state.steps[step_id]
                    step.status, step.attempt, step.progress, step.error = "pending", 0, 0, ""
            for planned in payload.get("steps", []):
                state.steps[planned["step_id"]] = ReplayedStep(
                    planned["step_id"], planned["agent"], planned["group"], planned.get("aggregate", False)
                )
            if state.steps and "retry" not in payload and "steps" in payload:
                # The first group is queued with the task; later groups appear via step events.
                first = min(s.group for s in state.steps.values())
                for step in state.steps.values():
                    if step.group == first:
                        step.status = "queued"
            state.error = ""
        elif type == "task.completed":
            state.summary = payload.get("summary", {})
            state.progress = 100
        else:
            state.error = payload.get("error", state.error)
        return
    found = state.steps.get(payload.get("step_id", 0))
    if found is None:
        return
    step = found
    if type == "step.progress":
        step.progress = payload["progress"]
        state.progress = payload.get("task_progress", state.progress)
        return
    step.status = _STEP_STATUS.get(type, step.status)
    step.attempt = payload.get("attempt", step.attempt)
    step.error = payload.get("error", "") if type != "step.started" else ""
    if type == "step.completed":
        step.progress = 100
    if "result_id" in payload:
        state.results[step.step_id] = {
            "id": payload["result_id"],
            "status": payload["result_status"],
            "summary": payload.get("summary", ""),
            "data": payload.get("data", {}),
        }
    if type in ("step.completed", "step.failed", "step.timed_out") and state.status != "completed":
        state.progress = _task_progress(state)
