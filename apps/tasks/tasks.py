"""Celery tasks: thin wrappers that load ids and call one service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.tasks import execution, reaper, stats

# Postgres or Redis unreachable before the step could be claimed or recorded.
DEPENDENCY_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)


@shared_task(
    name="tasks.run_step",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def step_run_task(self, step_id: int, task_id: str | None = None) -> str:
    # task_id (sent since round 4) is for the log context, which then needs no query
    try:
        return execution.step_execute(step_id, self.request.id or "").status
    except DEPENDENCY_ERRORS as exc:
        # Not the step's fault: acknowledging would drop the message (the step would wait for the
        # reaper). Retry publishes it again (same id) with back-off before acking this delivery;
        # if even that fails, the reaper's broker check re-sends the step. Broken connections are
        # dropped so the retry reconnects.
        close_old_connections()
        raise self.retry(
            exc=exc, countdown=min(30, 2 ** min(self.request.retries, 5)), max_retries=None
        ) from exc


@shared_task(name="tasks.reap_steps", ignore_result=True)
def steps_reap_task() -> int:
    return reaper.reaper_pass()


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
