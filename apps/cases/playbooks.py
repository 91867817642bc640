"""Playbooks: writes (create, update as a new version, run) and reads. A run submits a task
through tasks.services.task_create with the playbook's agents and parameters (pinned agents, so
the decision engine's plan is the playbook's), optionally inside an investigation; the run's
audit row names the playbook, its version and the task."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from pydantic import ValidationError as PydanticValidationError

from apps.agents.registry import agent_registry
from apps.agents.targets import parse_target
from apps.audit.services import audit_record
from apps.cases.models import Investigation, Playbook, PlaybookVersion
from apps.cases.services import _check_text, _join, _require_writer
from apps.core.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.vocabulary import task_types
from apps.tasks import services as task_services
from apps.tasks.models import Task
from apps.users.models import User

TARGET_KINDS = {"url", "email", "ip", "domain", "hostname", "hash", "cve", "text", "none"}
DEFINITION_FIELDS = (
    "description",
    "agents",
    "parameters",
    "task_type",
    "condition_task_types",
    "condition_target_kinds",
    "active",
)


def _require_admin(user: User) -> int:
    if not user.is_org_admin or user.organization_id is None:
        raise PermissionDenied("Only an organisation admin manages playbooks.")
    return user.organization_id


def _definition(playbook: Playbook) -> dict[str, Any]:
    return {field: getattr(playbook, field) for field in DEFINITION_FIELDS}


def _validate(playbook: Playbook) -> None:
    if playbook.task_type not in task_types:
        raise ValidationFailed(f"Unknown task type {playbook.task_type!r}.", extra={"field": "task_type"})
    if not playbook.agents:
        raise ValidationFailed("A playbook names at least one agent.", extra={"field": "agents"})
    for kind in playbook.condition_task_types:
        if kind not in task_types:
            raise ValidationFailed(f"Unknown task type {kind!r}.", extra={"field": "condition_task_types"})
    for kind in playbook.condition_target_kinds:
        if kind not in TARGET_KINDS:
            raise ValidationFailed(
                f"Unknown target kind {kind!r}; use one of {', '.join(sorted(TARGET_KINDS))}.",
                extra={"field": "condition_target_kinds"},
            )
    # checked now, not at run time: a playbook that cannot run should not be saved
    for agent_type in playbook.agents:
        if agent_type not in agent_registry or agent_registry.get(agent_type).aggregator:
            raise ValidationFailed(f"Unknown agent {agent_type!r}.", extra={"field": "agents"})
    for key, value in playbook.parameters.items():
        if key not in playbook.agents:
            raise ValidationFailed(
                f"parameters.{key}: parameters are keyed by one of the playbook's agents.",
                extra={"field": f"parameters.{key}"},
            )
        try:
            agent_registry.get(key).Params.model_validate(value)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(
                f"parameters.{key}.{where}: {first['msg']}", extra={"field": f"parameters.{key}.{where}"}
            ) from None


def _audit(event_type: str, playbook: Playbook, actor: User, **changes: Any) -> None:
    audit_record(
        event_type=event_type,
        entity_type="playbook",
        entity_id=playbook.pk,
        actor=actor,
        organization=playbook.organization,
        changes={"name": playbook.name, "version": playbook.version, **changes},
    )


@transaction.atomic
def playbook_create(*, user: User, name: str, **definition: Any) -> Playbook:
    organization_id = _require_admin(user)
    playbook = Playbook(
        organization_id=organization_id,
        name=_check_text(name, field="name", limit=100, required=True).strip(),
        updated_by=user,
        **definition,
    )
    _validate(playbook)
    try:
        with transaction.atomic():
            playbook.save()
    except IntegrityError:
        raise Conflict(f"A playbook named {playbook.name!r} exists.", extra={"field": "name"}) from None
    PlaybookVersion.objects.create(playbook=playbook, version=1, definition=_definition(playbook))
    _audit("playbook.create", playbook, user)
    return playbook


@transaction.atomic
def playbook_update(*, playbook: Playbook, by: User, **changes: Any) -> Playbook:
    """Apply changes as a new version (unchanged input keeps the version)."""
    _require_admin(by)
    playbook = Playbook.objects.select_for_update().get(pk=playbook.pk)
    before = _definition(playbook)
    for field, value in changes.items():
        if field not in DEFINITION_FIELDS:
            raise ValidationFailed(f"Unknown field {field!r}.", extra={"field": field})
        setattr(playbook, field, value)
    if _definition(playbook) == before:
        return playbook
    _validate(playbook)
    playbook.version += 1
    playbook.updated_by = by
    playbook.save()
    PlaybookVersion.objects.create(
        playbook=playbook, version=playbook.version, definition=_definition(playbook)
    )
    _audit(
        "playbook.update",
        playbook,
        by,
        changed=sorted(f for f in before if before[f] != getattr(playbook, f)),
    )
    return playbook


def playbook_list(*, user: User) -> QuerySet[Playbook]:
    if not user.is_authenticated or user.organization_id is None:
        return Playbook.objects.none()
    return Playbook.objects.filter(organization_id=user.organization_id).order_by("name")


def playbook_get(*, user: User, name: str) -> Playbook:
    playbook = playbook_list(user=user).filter(name=name).first()
    if playbook is None:
        raise NotFound(f"No playbook named {name[:100]!r}.")
    return playbook


@transaction.atomic
def playbook_run(
    *,
    playbook: Playbook,
    by: User,
    target: str,
    title: str = "",
    classification: str = "amber",
    priority: int = 5,
    investigation: Investigation | None = None,
) -> Task:
    """Submit a task with the playbook's agents and parameters, if its condition holds."""
    _require_writer(by)
    if not playbook.active:
        raise Conflict(f"Playbook {playbook.name!r} is inactive.")
    if playbook.condition_task_types and playbook.task_type not in playbook.condition_task_types:
        raise ValidationFailed(
            f"Playbook {playbook.name!r} does not run {playbook.task_type!r} tasks.",
            extra={"field": "task_type"},
        )
    kind = parse_target(target).kind
    if playbook.condition_target_kinds and kind not in playbook.condition_target_kinds:
        raise ValidationFailed(
            f"Playbook {playbook.name!r} runs on {', '.join(playbook.condition_target_kinds)} targets; "
            f"{target[:100]!r} is a {kind}.",
            extra={"field": "target"},
        )
    task = task_services.task_create(
        user=by,
        title=title or f"{playbook.name} v{playbook.version}: {target}"[:200],
        task_type=playbook.task_type,
        target=target,
        parameters=dict(playbook.parameters),
        agents=list(playbook.agents),
        priority=priority,
        classification=classification,
    )
    if investigation is not None:
        _join(investigation, task, by)
    _audit("playbook.run", playbook, by, task_id=str(task.pk))
    return task
