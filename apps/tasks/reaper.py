"""No stuck tasks: steps whose lease expired (worker killed, machine lost) are re-queued up to
their attempt limit, else failed with a clear error, so every task reaches a terminal state."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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
            task = Task.objects.select_for_update().get(pk=task_id)
            step = TaskStep.objects.select_for_update().get(pk=step_id)
            if step.status == StepStatus.QUEUED and step.queued_at and step.queued_at < cutoff:
                steps_resend(task, [step])
    return len(stale)


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
def _reap_one(step_id: int, task_id: object) -> int:
    task = Task.objects.select_for_update().get(pk=task_id)
    step = TaskStep.objects.select_for_update().get(pk=step_id)
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
