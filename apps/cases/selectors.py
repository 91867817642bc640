"""Reads for investigations, scoped to the user's organisation (others' are "not found")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from apps.cases.models import Comment, Investigation, InvestigationEntity, TaskTags
from apps.core.exceptions import NotFound
from apps.knowledge.graph.selectors import graph_task_entities
from apps.tasks import selectors as task_selectors
from apps.tasks.models import Task, TaskEvent
from apps.users.models import User

TIMELINE_LIMIT = 1000


@dataclass(frozen=True)
class InvestigationFilters:
    status: str | None = None
    tag: str | None = None
    q: str | None = None
    assignee: int | None = None


def investigation_visible(*, user: User) -> QuerySet[Investigation]:
    if not user.is_authenticated or user.organization_id is None:
        return Investigation.objects.none()
    return Investigation.objects.filter(organization_id=user.organization_id)


def investigation_list(*, user: User, filters: InvestigationFilters | None = None) -> QuerySet[Investigation]:
    f = filters or InvestigationFilters()
    qs = investigation_visible(user=user).annotate(task_count=Count("memberships"))
    if f.status:
        qs = qs.filter(status=f.status)
    if f.tag:
        qs = qs.filter(tags__contains=[f.tag.strip().lower()])
    if f.assignee is not None:
        qs = qs.filter(assignees__pk=f.assignee)
    if f.q:
        # comments are searched too (EXISTS: no duplicate rows for several matching comments)
        commented = Exists(Comment.objects.filter(investigation=OuterRef("pk"), body__icontains=f.q))
        tagged = Q(tags__contains=[f.q.strip().lower()])  # a search for a tag finds it too
        qs = qs.filter(Q(title__icontains=f.q) | Q(description__icontains=f.q) | commented | tagged)
    return qs.prefetch_related("assignees").order_by("-created_at", "-id")


def investigation_get(*, user: User, investigation_id: UUID | str) -> Investigation:
    investigation = (
        investigation_visible(user=user)
        .annotate(task_count=Count("memberships"))
        .prefetch_related("assignees")
        .filter(pk=investigation_id)
        .first()
    )
    if investigation is None:
        raise NotFound("Investigation not found.")
    return investigation


def investigation_tasks(*, investigation: Investigation) -> QuerySet[Task]:
    return Task.objects.filter(investigation_membership__investigation=investigation).order_by(
        "investigation_membership__added_at"
    )


def investigation_comments(*, investigation: Investigation) -> QuerySet[Comment]:
    return investigation.comments.select_related("author").prefetch_related("mentions").order_by("created_at")


def task_comments(*, task: Task) -> QuerySet[Comment]:
    return (
        Comment.objects.filter(task=task)
        .select_related("author")
        .prefetch_related("mentions")
        .order_by("created_at")
    )


def task_tags(*, task: Task) -> list[str]:
    row = TaskTags.objects.filter(task=task).first()
    return list(row.tags) if row else []


def task_get(*, user: User, task_id: UUID | str) -> Task:
    return task_selectors.task_get(user=user, task_id=task_id)


def tasks_tagged(*, user: User, tag: str) -> QuerySet[Task]:
    return task_selectors.task_visible(user=user).filter(case_tags__tags__contains=[tag.strip().lower()])


def investigation_timeline(*, investigation: Investigation) -> list[dict[str, Any]]:
    """Analysts' actions and the events of its tasks, oldest first, at most TIMELINE_LIMIT (the
    newest)."""
    entries: list[dict[str, Any]] = [
        {
            "at": e.created_at,
            "source": "analyst",
            "kind": e.kind,
            "actor": e.actor.email if e.actor else None,
            "task_id": None,
            "payload": e.payload,
        }
        for e in investigation.timeline.select_related("actor").order_by("-created_at")[:TIMELINE_LIMIT]
    ]
    # one query for the events of every member task (not one per task), newest first, bounded
    events = TaskEvent.objects.filter(task__investigation_membership__investigation=investigation).order_by(
        "-created_at", "-seq"
    )[:TIMELINE_LIMIT]
    for event in events:
        entries.append(
            {
                "at": event.created_at,
                "source": "task",
                "kind": event.type,
                "actor": None,
                "task_id": event.task_id,
                "payload": event.payload,
            }
        )
    entries.sort(key=lambda e: e["at"])
    return entries[-TIMELINE_LIMIT:]


@dataclass(frozen=True)
class CaseEntity:
    kind: str
    value: str
    normalized: str
    provenance: str  # "task" (found by a member task) or "imported"
    attributes: dict[str, Any]
    task_id: str = ""  # the member task that found it (the first), for follow-ups


def investigation_entities(*, investigation: Investigation) -> list[CaseEntity]:
    """What the investigation knows: its tasks' graph entities and its imported observables."""
    seen: dict[tuple[str, str], CaseEntity] = {}
    for task in investigation_tasks(investigation=investigation):
        for e in graph_task_entities(user=None, task=task):
            seen.setdefault(
                (e.kind, e.normalized),
                CaseEntity(e.kind, e.value, e.normalized, "task", e.attributes, str(task.pk)),
            )
    for row in InvestigationEntity.objects.filter(investigation=investigation).order_by("id"):
        seen.setdefault(
            (row.kind, row.normalized),
            CaseEntity(row.kind, row.value, row.normalized, row.provenance, row.attributes),
        )
    return list(seen.values())


def investigation_assignable(*, user: User) -> QuerySet[User]:
    """Active members of the user's organisation (who can be assigned)."""
    if not user.is_authenticated or user.organization_id is None:
        return User.objects.none()
    return User.objects.filter(organization_id=user.organization_id, is_active=True).order_by("email")
