"""What the tasks app tells operations: task and step metrics (from the event stream) and the log
context of a step message. Registered with core in TasksConfig.ready(); core knows neither."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.core import logging as amas_logging
from apps.core import metrics

TASK_TERMINAL_EVENTS = {"task.completed", "task.failed", "task.cancelled", "task.timed_out"}
STEP_TERMINAL_EVENTS = {"step.completed", "step.failed", "step.cancelled", "step.timed_out"}


def task_events_record(events: list[Any]) -> None:
    """Events hook (after commit, in whichever process made the change, once per transaction):
    the counters and histograms of a transaction's events go into the process's metrics buffer
    (metrics.record_later), which its flusher sends to Redis about once a second: a step's
    outcome paid a MULTI/EXEC round trip for them (~0.1 ms of worker CPU and a Redis command
    batch per task). A worker's pool child sends its buffer when it exits
    (amas.celery._metrics_flushed); one killed with SIGKILL loses at most a flush interval of
    counts, as web processes do for their API requests (apps/core/metrics.py)."""
    batches = [batch for event in events for batch in _event_increments(event)]
    if batches:
        metrics.record_later(*batches)


def _event_increments(event: Any) -> list[list[tuple[str, str, float]]]:
    kind = event.type
    payload = event.payload or {}
    if kind == "task.created":
        return [metrics.TASKS_CREATED.increments(task_type=payload.get("task_type", ""))]
    if kind in TASK_TERMINAL_EVENTS:
        status = kind.split(".", 1)[1]
        batches = [metrics.TASKS_COMPLETED.increments(status=status)]
        from apps.tasks.models import Task, TaskEvent

        times: Mapping[str, Any] | None
        if TaskEvent.task.is_cached(event):  # the pipeline's events carry the task that ended
            times = {"started_at": event.task.started_at, "finished_at": event.task.finished_at}
        else:
            times = Task.objects.filter(pk=event.task_id).values("started_at", "finished_at").first()
        if times and times["started_at"] and times["finished_at"]:
            seconds = (times["finished_at"] - times["started_at"]).total_seconds()
            batches.append(metrics.TASK_DURATION.observations(max(0.0, seconds), status=status))
        return batches
    if kind in STEP_TERMINAL_EVENTS:
        agent = payload.get("agent", "")
        batches = [metrics.STEPS_FINISHED.increments(agent=agent, status=kind.split(".", 1)[1])]
        if "processing_time_ms" in payload:
            batches.append(
                metrics.STEP_DURATION.observations(payload["processing_time_ms"] / 1000.0, agent=agent)
            )
        return batches
    if kind == "step.retrying":
        return [metrics.STEPS_RETRIED.increments(agent=payload.get("agent", ""))]
    return []


def step_log_context(args: tuple, kwargs: dict) -> dict[str, Any]:
    """The task and step a `tasks.run_step` message is about (its first argument is the step id)."""
    step = args[0] if args else kwargs.get("step_id")
    if step is None:
        return {}
    if kwargs.get("task_id"):  # messages carry their task (orchestrator._dispatch)
        return {"step_id": step, "task_id": kwargs["task_id"]}
    from apps.tasks.models import TaskStep

    task = TaskStep.objects.filter(pk=step).values_list("task_id", flat=True).first()
    return {"step_id": step, "task_id": task}


def register() -> None:
    from apps.tasks.hooks import register_events_hook

    register_events_hook(task_events_record)
    amas_logging.register_task_context("tasks.run_step", step_log_context)
