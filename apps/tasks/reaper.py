"""No stuck tasks: steps whose lease expired (worker killed, machine lost) are re-queued up to
their attempt limit, else failed with a clear error, so every task reaches a terminal state."""

import logging
import math
import random
import threading
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.tasks import broker
from apps.tasks.models import StepStatus, Task, TaskStep
from apps.tasks.orchestrator import steps_resend, steps_send, task_advance
from apps.tasks.state import step_transition

log = logging.getLogger(__name__)


def steps_resend_stale(*, limit: int = 200) -> int:
    """Queued steps nobody picked up for AMAS_STEP_RESEND_AFTER_SECONDS (their message was lost,
    e.g. the broker was down when it was sent) are sent again."""
    cutoff = timezone.now() - timedelta(seconds=settings.AMAS_STEP_RESEND_AFTER_SECONDS)
    stale = list(
        TaskStep.objects.filter(status=StepStatus.QUEUED, queued_at__lt=cutoff)
        .order_by("queued_at")
        .values_list("pk", "task_id")[:limit]
    )
    for step_id, task_id in stale:
        with transaction.atomic():
            task = Task.objects.select_for_update(no_key=True).get(pk=task_id)
            step = TaskStep.objects.select_for_update(no_key=True).get(pk=step_id)
            if step.status == StepStatus.QUEUED and step.queued_at and step.queued_at < cutoff:
                steps_resend(task, [step])
    return len(stale)


def steps_resend_lost(*, limit: int = 500) -> int:
    """Queued steps (queued for AMAS_STEP_LOST_AFTER_SECONDS or more) whose message the broker no
    longer holds are sent again now, instead of after the AMAS_STEP_RESEND_AFTER_SECONDS backstop.
    See apps/tasks/broker.py for why this check rather than an outbox table.

    A message a worker took long ago and has not acknowledged is lost only if that worker is dead:
    a busy live worker may hold a prefetched message for as long as its pool is busy, and sending
    it again would only deliver a duplicate (a no-op thanks to the step claim). Live workers are
    asked which of those they hold; a dead worker's entry would only come back when kombu's
    visibility timeout restores it, so its step is sent again now."""
    if not broker.is_redis_broker():
        return 0
    lost_after = settings.AMAS_STEP_LOST_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=lost_after)
    candidates = list(
        TaskStep.objects.filter(status=StepStatus.QUEUED, queued_at__lt=cutoff)
        .order_by("queued_at")
        .values_list("pk", "task_id", "celery_task_id", "queue")[:limit]
    )
    if not candidates:
        return 0
    queues = {c[3] for c in candidates}
    # Every message still in the broker (a queue, or `unacked` at any age) first, then those it
    # will deliver anyway (a queue, or taken just now or due later): in this order, a message
    # moving from a queue to `unacked` between the two reads counts as held, never as lost.
    in_broker = broker.held_message_ids(queues, reserved_for=math.inf)
    held = broker.held_message_ids(queues, reserved_for=lost_after)
    taken_long_ago = {c[2] for c in candidates if c[2] in in_broker and c[2] not in held}
    if taken_long_ago:
        held |= held_by_live_workers(taken_long_ago)
    lost = [(pk, task_id) for pk, task_id, celery_id, _queue in candidates if celery_id not in held]
    for step_id, task_id in lost:
        with transaction.atomic():
            task = Task.objects.select_for_update(no_key=True).get(pk=task_id)
            step = TaskStep.objects.select_for_update(no_key=True).get(pk=step_id)
            if step.status == StepStatus.QUEUED and step.queued_at and step.queued_at < cutoff:
                where = (
                    "held by no live worker" if step.celery_task_id in taken_long_ago else "not in the broker"
                )
                log.warning(
                    "Step %s of task %s: its message is %s; sending it again", step_id, task_id, where
                )
                steps_resend(task, [step])
    return len(lost)


def held_by_live_workers(message_ids: set[str]) -> set[str]:
    """Which of these messages a live worker holds (reserved, waiting for its countdown, or
    handed to its pool), by asking every worker (Celery's query_task broadcast). A worker answers
    from its main process, so a busy prefork or threads pool answers too; a worker that cannot
    answer within AMAS_HEALTH_WORKER_TIMEOUT (a solo pool busy with a task, remote control off)
    counts as holding nothing, as it did before this check."""
    from amas.celery import app

    # A connection of its own, not one from the app's pool: a pooled connection broken by a
    # Redis restart fails the broadcast once before the pool replaces it.
    try:
        with app.connection_for_write() as connection:
            inspect = app.control.inspect(timeout=settings.AMAS_HEALTH_WORKER_TIMEOUT, connection=connection)
            replies = inspect.query_task(*sorted(message_ids)) or {}
    except Exception as exc:  # the broker unreachable: re-send as before (a duplicate is a no-op)
        log.warning("Could not ask the workers which messages they hold (%s)", type(exc).__name__)
        return set()
    return {message_id for held in replies.values() for message_id in held or {}} & message_ids


def reaper_pass() -> int:
    """One pass of everything that keeps steps moving: expired leases, then lost messages, then
    the slow backstop. Run by beat and, every AMAS_REAPER_INTERVAL_SECONDS, by each worker."""
    return steps_reap() + steps_resend_lost() + steps_resend_stale()


def steps_reap(*, limit: int = 200) -> int:
    """Handle every running step whose lease expired. Returns how many were handled."""
    expired = list(
        TaskStep.objects.filter(status=StepStatus.RUNNING, lease_expires_at__lt=timezone.now())
        .order_by("lease_expires_at")
        .values_list("pk", "task_id")[:limit]
    )
    handled = 0
    for step_id, task_id in expired:
        handled += _reap_one(step_id, task_id)
    return handled


@transaction.atomic
def _reap_one(step_id: int, task_id: UUID | str) -> int:
    task = Task.objects.select_for_update(no_key=True).get(pk=task_id)
    step = TaskStep.objects.select_for_update(no_key=True).get(pk=step_id)
    if (
        step.status != StepStatus.RUNNING
        or step.lease_expires_at is None
        or step.lease_expires_at >= timezone.now()
    ):
        return 0  # it heartbeat or finished meanwhile
    owner = step.lease_owner or "its worker"
    lost = f"Worker lost: no heartbeat from {owner} since {step.heartbeat_at:%H:%M:%S}."
    log.warning("Reaping step %s of task %s: %s", step.pk, task.pk, lost)
    if step.attempt < step.max_attempts:
        step.error_message = lost
        steps_send(task, [step], payload={"reason": lost, "reaped": True})
    else:
        step_transition(
            task, step, StepStatus.FAILED, error_message=f"{lost} Gave up after {step.attempt} attempts."
        )
        task_advance(task)
    return 1


def reaper_loop(stop: threading.Event) -> None:
    """Each worker's own reaper (a thread in its main process), so reaping depends neither on
    beat nor on a queue that agent steps could fill: a step whose worker was killed is queued
    again within lease + interval. Passes from several workers are safe: every re-queue happens
    under the task and step locks and re-checks the step first."""
    interval = settings.AMAS_REAPER_INTERVAL_SECONDS
    while not stop.wait(interval * random.uniform(0.8, 1.2)):  # jitter, not crypto
        try:
            reaper_pass()
        except Exception:  # Postgres or Redis away: try again next interval
            log.warning("Reaper pass failed; retrying in %.0fs", interval, exc_info=True)
        finally:
            # Not kept between passes: a prefork pool child forked meanwhile would inherit the
            # socket, and its clean-up could end the session under us.
            connection.close()
