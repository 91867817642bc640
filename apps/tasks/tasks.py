"""Celery tasks: thin wrappers that load ids and call one service."""

from celery import shared_task

from apps.tasks import execution, reaper, stats


@shared_task(
    name="tasks.run_step",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def step_run_task(self, step_id: int) -> str:  # noqa: ANN001
    return execution.step_execute(step_id, self.request.id or "").status


@shared_task(name="tasks.reap_steps", ignore_result=True)
def steps_reap_task() -> int:
    return reaper.steps_reap() + reaper.steps_resend_stale()


@shared_task(name="tasks.refresh_stats", ignore_result=True)
def stats_refresh_task() -> int:
    return stats.stats_refresh()


@shared_task(name="tasks.run_scheduled")
def scheduled_run_task(parent_id: str) -> str | None:
    from apps.tasks.models import Task
    from apps.tasks.services import task_run_scheduled

    parent = Task.objects.filter(pk=parent_id).select_related("created_by").first()
    if parent is None:
        return None
    child = task_run_scheduled(parent=parent)
    return str(child.id) if child else None
