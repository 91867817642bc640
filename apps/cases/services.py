"""Writes for investigations, their task membership, tags and comments. Every change is audited
(apps.audit.services.audit_record, late in the transaction) and, for investigations, written to
the investigation's timeline."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from apps.audit.services import audit_record
from apps.cases import realtime
from apps.cases.models import (
    COMMENT_MAX_CHARS,
    MAX_TAGS,
    TAG_MAX_CHARS,
    Comment,
    Investigation,
    InvestigationStatus,
    InvestigationTask,
    TaskTags,
    TimelineEntry,
)
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.vocabulary import Classification
from apps.tasks import services as task_services
from apps.tasks.models import Task
from apps.users.models import User

# "@alice@example.org" mentions the member whose e-mail is alice@example.org.
MENTION_RE = re.compile(r"(?<![\w.@])@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")
TAG_RE = re.compile(r"^[\w][\w.:/+-]*$")


def _require_writer(user: User) -> int:
    """The writer's organisation id (investigations belong to an organisation)."""
    if not user.can_write or user.organization_id is None:
        raise PermissionDenied("Your role cannot change investigations.")
    return user.organization_id


def _check_text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    if required and not value.strip():
        raise ValidationFailed(f"{field} must not be empty.", extra={"field": field})
    if len(value) > limit:
        raise ValidationFailed(
            f"{field} is {len(value)} characters long; the limit is {limit}.",
            extra={"field": field, "limit": limit},
        )
    if any(ord(c) < 32 and c not in "\n\r\t" for c in value):
        raise ValidationFailed(f"{field} contains control characters.", extra={"field": field})
    return value


def normalize_tags(tags: list[str], *, field: str = "tags") -> list[str]:
    """Tags are lower-case words (letters, digits, `_.:/+-`), deduplicated, at most MAX_TAGS."""
    cleaned = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    if len(cleaned) > MAX_TAGS:
        raise ValidationFailed(f"At most {MAX_TAGS} tags.", extra={"field": field})
    for tag in cleaned:
        if len(tag) > TAG_MAX_CHARS or not TAG_RE.match(tag):
            raise ValidationFailed(
                f"Invalid tag {tag[:80]!r}: use up to {TAG_MAX_CHARS} letters, digits or _.:/+-.",
                extra={"field": field},
            )
    return cleaned


def _check_classification(value: str) -> str:
    if value not in Classification.values:
        raise ValidationFailed(f"Unknown classification {value!r}.", extra={"field": "classification"})
    return value


def _strictest_task_classification(investigation: Investigation) -> str | None:
    levels = Task.objects.filter(investigation_membership__investigation=investigation).values_list(
        "classification", flat=True
    )
    return max(set(levels), key=Classification.rank, default=None)


def _members(user: User, ids: list[int], *, field: str) -> list[User]:
    organization_id = _require_writer(user)
    members = list(User.objects.filter(organization_id=organization_id, is_active=True, pk__in=ids))
    missing = set(ids) - {m.pk for m in members}
    if missing:
        raise ValidationFailed(
            f"No member of your organisation has the id(s) {sorted(missing)}.", extra={"field": field}
        )
    return members


def _timeline(investigation: Investigation, actor: User | None, kind: str, **payload: Any) -> None:
    entry = TimelineEntry.objects.create(investigation=investigation, actor=actor, kind=kind, payload=payload)
    message = {
        "kind": kind,
        "at": entry.created_at.isoformat(),
        "actor": actor.email if actor else None,
        "task_id": str(payload.get("task_id") or ""),
    }
    investigation_id = investigation.pk
    transaction.on_commit(lambda: realtime.investigation_broadcast(investigation_id, message))


def _audit(event_type: str, investigation: Investigation, actor: User | None, **changes: Any) -> None:
    audit_record(
        event_type=event_type,
        entity_type="investigation",
        entity_id=str(investigation.id),
        actor=actor,
        organization=investigation.organization,
        changes=changes,
    )


@transaction.atomic
def investigation_create(
    *,
    user: User,
    title: str,
    description: str = "",
    classification: str = Classification.AMBER,
    tags: list[str] | None = None,
    assignee_ids: list[int] | None = None,
) -> Investigation:
    organization_id = _require_writer(user)
    investigation = Investigation.objects.create(
        organization_id=organization_id,
        created_by=user,
        title=_check_text(title, field="title", limit=200, required=True),
        description=_check_text(description, field="description", limit=20_000),
        classification=_check_classification(classification),
        tags=normalize_tags(tags or []),
    )
    if assignee_ids:
        investigation.assignees.set(_members(user, assignee_ids, field="assignees"))
    _timeline(investigation, user, "investigation.created", title=investigation.title)
    _audit("investigation.create", investigation, user, title=investigation.title)
    return investigation


@transaction.atomic
def investigation_update(
    *,
    investigation: Investigation,
    by: User,
    title: str | None = None,
    description: str | None = None,
    status: str | None = None,
    classification: str | None = None,
    tags: list[str] | None = None,
    assignee_ids: list[int] | None = None,
) -> Investigation:
    """Change what is given. The classification may not go below the strictest member task's."""
    _require_writer(by)
    investigation = Investigation.objects.select_for_update().get(pk=investigation.pk)
    changes: dict[str, Any] = {}
    if title is not None and title != investigation.title:
        changes["title"] = [investigation.title, _check_text(title, field="title", limit=200, required=True)]
        investigation.title = title
    if description is not None and description != investigation.description:
        investigation.description = _check_text(description, field="description", limit=20_000)
        changes["description"] = "changed"
    if status is not None and status != investigation.status:
        if status not in InvestigationStatus.values:
            raise ValidationFailed(f"Unknown status {status!r}.", extra={"field": "status"})
        changes["status"] = [investigation.status, status]
        investigation.status = status
    if classification is not None and classification != investigation.classification:
        _check_classification(classification)
        floor = _strictest_task_classification(investigation)
        if floor is not None and Classification.rank(classification) < Classification.rank(floor):
            raise ValidationFailed(
                f"classification {classification!r} is below the TLP of a task in this investigation "
                f"({floor!r}); remove that task first or keep {floor!r} or stricter.",
                extra={"field": "classification", "minimum": floor},
            )
        changes["classification"] = [investigation.classification, classification]
        investigation.classification = classification
    if tags is not None:
        new_tags = normalize_tags(tags)
        if new_tags != investigation.tags:
            changes["tags"] = [investigation.tags, new_tags]
            investigation.tags = new_tags
    if assignee_ids is not None:
        members = _members(by, assignee_ids, field="assignees")
        before = sorted(investigation.assignees.values_list("pk", flat=True))
        if before != sorted(m.pk for m in members):
            investigation.assignees.set(members)
            changes["assignees"] = [before, sorted(m.pk for m in members)]
    if not changes:
        return investigation
    fields = [f for f in ("title", "description", "status", "classification", "tags") if f in changes]
    investigation.save(update_fields=[*fields, "updated_at"])
    _timeline(investigation, by, "investigation.updated", changes=changes)
    _audit("investigation.update", investigation, by, **changes)
    return investigation


def _join(
    investigation: Investigation,
    task: Task,
    by: User | None,
    *,
    origin_task: Task | None = None,
    origin_entity: tuple[str, str] | None = None,
) -> InvestigationTask:
    """Make `task` a member; raise the investigation's TLP to the task's if that is stricter."""
    if task.organization_id != investigation.organization_id:
        raise ValidationFailed("The task belongs to another organisation.", extra={"field": "task_id"})
    existing = InvestigationTask.objects.filter(task=task).select_related("investigation").first()
    if existing is not None:
        if existing.investigation_id == investigation.pk:
            return existing
        raise Conflict("The task already belongs to another investigation.", extra={"field": "task_id"})
    membership = InvestigationTask.objects.create(
        investigation=investigation,
        task=task,
        added_by=by,
        origin_task=origin_task,
        origin_entity_kind=origin_entity[0] if origin_entity else "",
        origin_entity_value=origin_entity[1] if origin_entity else "",
    )
    investigation = Investigation.objects.select_for_update().get(pk=investigation.pk)
    if Classification.rank(task.classification) > Classification.rank(investigation.classification):
        _timeline(
            investigation,
            by,
            "investigation.classification_raised",
            task_id=str(task.pk),
            changes={"classification": [investigation.classification, task.classification]},
        )
        investigation.classification = task.classification
        investigation.save(update_fields=["classification", "updated_at"])
    payload: dict[str, Any] = {"task_id": str(task.pk), "title": task.title}
    if origin_entity:
        payload["origin"] = {
            "task_id": str(origin_task.pk) if origin_task else None,
            "kind": origin_entity[0],
            "value": origin_entity[1],
        }
    _timeline(investigation, by, "investigation.task_added", **payload)
    _audit("investigation.add_task", investigation, by, **payload)
    return membership


@transaction.atomic
def investigation_add_task(*, investigation: Investigation, task: Task, by: User) -> InvestigationTask:
    _require_writer(by)
    return _join(investigation, task, by)


@transaction.atomic
def investigation_task_create(*, investigation: Investigation, by: User, **task_fields: Any) -> Task:
    """Create a task inside the investigation (tasks.services.task_create, then membership)."""
    _require_writer(by)
    task = task_services.task_create(user=by, **task_fields)
    _join(investigation, task, by)
    return task


@transaction.atomic
def investigation_follow_up(
    *,
    investigation: Investigation,
    by: User,
    origin_task: Task,
    kind: str,
    value: str,
    task_type: str = "investigation",
    agents: list[str] | None = None,
) -> Task:
    """ "Investigate this domain": a new task on an entity or indicator of a member task's result,
    in the same investigation, keeping that task and entity as its origin."""
    _require_writer(by)
    membership = InvestigationTask.objects.filter(task=origin_task, investigation=investigation).first()
    if membership is None:
        raise ValidationFailed(
            "The origin task is not part of this investigation.", extra={"field": "origin_task_id"}
        )
    value = _check_text(value, field="value", limit=1024, required=True)
    task = task_services.task_create(
        user=by,
        title=f"Follow-up: {kind} {value}"[:200],
        task_type=task_type,
        target=value,
        agents=agents,
        classification=origin_task.classification,
    )
    _join(investigation, task, by, origin_task=origin_task, origin_entity=(kind, value))
    return task


@transaction.atomic
def task_tags_set(*, task: Task, by: User, tags: list[str]) -> list[str]:
    _require_writer(by)
    cleaned = normalize_tags(tags)
    row, _ = TaskTags.objects.select_for_update().get_or_create(task=task)
    if row.tags != cleaned:
        before, row.tags = row.tags, cleaned
        row.save(update_fields=["tags"])
        audit_record(
            event_type="task.tags",
            entity_type="task",
            entity_id=str(task.pk),
            actor=by,
            organization=task.organization,
            changes={"tags": [before, cleaned]},
        )
    return cleaned


@transaction.atomic
def comment_create(
    *, by: User, body: str, investigation: Investigation | None = None, task: Task | None = None
) -> Comment:
    """A comment on an investigation or a task. `@email` of a member of the organisation
    mentions them; other `@` words stay plain text."""
    _require_writer(by)
    if (investigation is None) == (task is None):
        raise ValidationFailed("A comment is on an investigation or on a task.")
    body = _check_text(body, field="body", limit=COMMENT_MAX_CHARS, required=True)
    subject = investigation or task
    assert subject is not None
    comment = Comment.objects.create(
        organization_id=subject.organization_id, investigation=investigation, task=task, author=by, body=body
    )
    emails = {m.lower() for m in MENTION_RE.findall(body)}
    mentioned = (
        list(User.objects.filter(organization_id=subject.organization_id, is_active=True, email__in=emails))
        if emails
        else []
    )
    comment.mentions.set(mentioned)
    changes = {"comment_id": str(comment.id), "mentions": [u.email for u in mentioned]}
    if investigation is not None:
        _timeline(investigation, by, "investigation.comment", **changes)
    audit_record(
        event_type="comment.create",
        entity_type="investigation" if investigation is not None else "task",
        entity_id=str(subject.pk),
        actor=by,
        organization=subject.organization,
        changes=changes,
    )
    return comment
