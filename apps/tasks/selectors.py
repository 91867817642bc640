"""Reads for tasks. Every query is scoped to the user's organisation."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from apps.core.exceptions import NotFound
from apps.tasks import hooks
from apps.tasks.models import Result, Task, TaskEvent, TaskStatsHourly, TaskStep
from apps.users.models import User


@dataclass(frozen=True)
class TaskFilters:
    status: str | None = None
    task_type: str | None = None
    priority_min: int | None = None
    priority_max: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    q: str | None = None
    parent: str | None = None
    agent: str | None = None
    tag: str | None = None  # kept by another app (the case layer) via hooks.register_task_search


def task_visible(*, user: User) -> QuerySet[Task]:
    if not user.is_authenticated or user.organization_id is None:
        return Task.objects.none()
    return Task.objects.filter(organization_id=user.organization_id)


def task_list(*, user: User, filters: TaskFilters | None = None) -> QuerySet[Task]:
    f = filters or TaskFilters()
    qs = task_visible(user=user).select_related("created_by")
    if f.status:
        qs = qs.filter(status=f.status)
    if f.task_type:
        qs = qs.filter(task_type=f.task_type)
    if f.priority_min is not None:
        qs = qs.filter(priority__gte=f.priority_min)
    if f.priority_max is not None:
        qs = qs.filter(priority__lte=f.priority_max)
    if f.created_after:
        qs = qs.filter(created_at__gte=f.created_after)
    if f.created_before:
        qs = qs.filter(created_at__lt=f.created_before)
    if f.parent:
        qs = qs.filter(parent__pk=f.parent)
    if f.agent:
        # EXISTS rather than JOIN + DISTINCT: the planner keeps using the task indexes.
        qs = qs.filter(Exists(TaskStep.objects.filter(task=OuterRef("pk"), agent_type=f.agent)))
    if f.tag:
        tag_condition = hooks.task_tag_condition()
        # Nobody keeps tags: a tag filter matches nothing rather than being silently ignored.
        qs = qs.filter(tag_condition(f.tag)) if tag_condition else qs.none()
    if f.q:
        text = Q(title__icontains=f.q) | Q(description__icontains=f.q) | Q(target__icontains=f.q)
        for condition in hooks.task_text_conditions():
            text |= condition(f.q)
        qs = qs.filter(text)
    return qs.order_by("-created_at", "-id")


def task_get(*, user: User, task_id: UUID | str) -> Task:
    # created_by comes along: the task's API shape names its author.
    task = task_visible(user=user).select_related("created_by").filter(pk=task_id).first()
    if task is None:
        raise NotFound("Task not found.")
    return task


# The columns the API's task answer (apps.tasks.schemas.TaskDetailOut) shows.
TASK_DETAIL_FIELDS = (
    "id",
    "title",
    "description",
    "task_type",
    "target",
    "parameters",
    "requested_agents",
    "priority",
    "classification",
    "status",
    "progress",
    "plan",
    "summary",
    "error_message",
    "attempt",
    "parent_id",
    "schedule_id",
    "created_at",
    "queued_at",
    "started_at",
    "finished_at",
    "created_by_id",
    "created_by__email",
)
STEP_DETAIL_FIELDS = (
    "id",
    "task_id",
    "agent_type",
    "group_index",
    "position",
    "is_aggregate",
    "status",
    "progress",
    "message",
    "attempt",
    "started_at",
    "finished_at",
    "error_message",
)


def task_detail(*, user: User, task_id: UUID | str) -> Task:
    """task_get for GET /api/v1/tasks/{id}: the task with its author's e-mail and its steps (in
    their order), loading only the columns the answer shows. Most of such a request's CPU was
    the ORM compiling and reading two ~35-column queries; this is the same two queries, narrower
    and without the ORDER BY that first() adds."""
    steps = TaskStep.objects.only(*STEP_DETAIL_FIELDS).order_by("group_index", "position")
    try:
        return (
            task_visible(user=user)
            .select_related("created_by")
            .only(*TASK_DETAIL_FIELDS)
            .prefetch_related(Prefetch("steps", queryset=steps))
            .get(pk=task_id)
        )
    except Task.DoesNotExist:
        raise NotFound("Task not found.") from None


def task_events(*, task: Task, after_seq: int = 0) -> QuerySet[TaskEvent]:
    return task.events.filter(seq__gt=after_seq).order_by("seq")


def task_events_between(
    *, task_id: UUID | str, after_seq: int, upto_seq: int | None = None
) -> QuerySet[TaskEvent]:
    """Events of a task the caller already may read (a websocket that authorised on connect)."""
    events = TaskEvent.objects.filter(task_id=task_id, seq__gt=after_seq)
    if upto_seq is not None:
        events = events.filter(seq__lte=upto_seq)
    return events.order_by("seq")


def task_results(*, task: Task) -> QuerySet[Result]:
    return task.results.select_related("step").order_by("step__group_index", "step__position")


def task_snapshot(*, task: Task) -> dict:
    """What a websocket client gets on connect: the task and its steps as of `last_event_seq`."""
    steps = list(task.steps.order_by("group_index", "position"))
    return {
        "id": str(task.id),
        "title": task.title,
        "status": task.status,
        "progress": task.progress,
        "seq": task.last_event_seq,
        "summary": task.summary,
        "error": task.error_message,
        "steps": [
            {
                "step_id": s.id,
                "agent": s.agent_type,
                "group": s.group_index,
                "aggregate": s.is_aggregate,
                "status": s.status,
                "progress": s.progress,
                "message": s.message,
                "attempt": s.attempt,
                "error": s.error_message,
            }
            for s in steps
        ],
    }


def task_stats(*, user: User, since: datetime | None = None) -> QuerySet[TaskStatsHourly]:
    if user.organization_id is None:
        return TaskStatsHourly.objects.none()
    qs = TaskStatsHourly.objects.filter(organization_id=user.organization_id)
    if since:
        qs = qs.filter(hour__gte=since)
    return qs.order_by("-hour", "task_type", "status")
