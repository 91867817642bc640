"""Audit rows for what happens outside our services: admin actions (LogEntry) and changes to
security-relevant models wherever they are saved (admin, shell, services). Connected in
AuditConfig.ready(). Sign-ins and MFA changes are recorded by the users app (apps/users/signals.py),
which owns the trust state they update; models are named by label, so audit imports no app."""

from __future__ import annotations

import hashlib
from typing import Any

from django.apps import apps
from django.db.models import Model
from django.db.models.signals import post_delete, post_save, pre_save

from apps.audit.context import current_request
from apps.audit.services import audit_record
from apps.core.crypto import EncryptedJSONField, EncryptedTextField

# Models whose every change is audited, when the app that defines them is installed (changes made
# in the admin, the shell or any service). Apps whose services call audit_record themselves
# (tasks, webhooks, the knowledge graph) are not listed, so nothing is recorded twice.
AUDITED_MODELS = [
    "users.User",
    "users.Organization",
    "providers.Provider",
    "providers.Budget",
    "agents.AgentConfig",
    "agents.DecisionSettings",
    "agents.EgressAllowlistEntry",
    "agents.AuthorisedTarget",
    "agents.YaraRule",
    "agents.HashSet",
]
# Bookkeeping columns whose changes are not worth a row (health checks, logins).
_VOLATILE = {"created_at", "updated_at", "date_joined"}


def _volatile(name: str) -> bool:
    return name in _VOLATILE or name.startswith("last_")


def _request_actor() -> tuple[Any, Any]:
    request = current_request.get()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return request, user
    return request, None


# --- admin ---------------------------------------------------------------------------------------


def _on_admin_log(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    verbs = {1: "addition", 2: "change", 3: "deletion"}
    user = instance.user
    audit_record(
        event_type=f"admin.{verbs.get(instance.action_flag, 'action')}",
        entity_type=instance.content_type.model_class()._meta.label_lower
        if instance.content_type and instance.content_type.model_class()
        else "unknown",
        entity_id=instance.object_id or "",
        actor=user,
        changes={"object": instance.object_repr, "message": instance.get_change_message()},
        request=current_request.get(),
    )


# --- model changes -------------------------------------------------------------------------------


def _snapshot(instance: Model) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in instance._meta.concrete_fields:
        if _volatile(f.name):
            continue
        value = getattr(instance, f.attname)
        if isinstance(f, EncryptedTextField | EncryptedJSONField):
            value = "__encrypted__:" + (hashlib.sha256(str(value).encode()).hexdigest() if value else "")
        values[f.attname] = value
    return values


def _pre_save(
    sender: type[Model], instance: Model, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and all(_volatile(name) for name in update_fields):
        instance._audit_before = None  # type: ignore[attr-defined]
        return
    before = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _snapshot(before) if before is not None else None  # type: ignore[attr-defined]


def _clip(value: Any) -> Any:
    """Long texts (rule bodies, descriptions) are summarised: the row records that they changed."""
    if isinstance(value, str) and len(value) > 500:
        return (
            f"{value[:200]}... ({len(value)} chars, sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]})"
        )
    return value


def _describe(instance: Model, created: bool) -> dict[str, Any]:
    after = _snapshot(instance)
    encrypted = sorted(k for k, v in after.items() if isinstance(v, str) and v.startswith("__encrypted__:"))
    if created:
        plain = {k: _clip(v) for k, v in after.items() if k not in encrypted}
        return {
            "after": plain,
            "encrypted_fields_set": [k for k in encrypted if after[k] != "__encrypted__:"],
        }
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return {}
    changed = {k for k in after if before.get(k) != after[k]}
    return {
        "before": {k: _clip(before.get(k)) for k in sorted(changed) if k not in encrypted},
        "after": {k: _clip(after[k]) for k in sorted(changed) if k not in encrypted},
        "encrypted_fields_changed": sorted(changed & set(encrypted)),
    }


def _post_save(sender: type[Model], instance: Model, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    changes = _describe(instance, created)
    if not created and not (changes.get("after") or changes.get("encrypted_fields_changed")):
        return
    request, actor = _request_actor()
    audit_record(
        event_type=f"{sender._meta.model_name}.{'create' if created else 'update'}",
        entity_type=sender._meta.label_lower,
        entity_id=instance.pk,
        actor=actor,
        organization=_organization_of(instance, actor),
        changes=changes,
        request=request,
    )


def _post_delete(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    request, actor = _request_actor()
    audit_record(
        event_type=f"{sender._meta.model_name}.delete",
        entity_type=sender._meta.label_lower,
        entity_id=instance.pk,
        actor=actor,
        organization=_organization_of(instance, actor),
        changes={"object": str(instance)[:200]},
        request=request,
    )


def _organization_of(instance: Model, actor: Any) -> Any:
    if instance._meta.label_lower == "users.organization":
        return instance
    org_id = getattr(instance, "organization_id", None)
    if org_id is not None:
        return apps.get_model("users", "Organization")(pk=org_id)
    return actor.organization if actor is not None else None


def connect() -> None:
    from django.contrib.admin.models import LogEntry

    post_save.connect(_on_admin_log, sender=LogEntry, dispatch_uid="audit_admin_log")
    for label in AUDITED_MODELS:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue  # that app (or model) is not installed
        pre_save.connect(_pre_save, sender=model, dispatch_uid=f"audit_pre_{label}")
        post_save.connect(_post_save, sender=model, dispatch_uid=f"audit_post_{label}")
        post_delete.connect(_post_delete, sender=model, dispatch_uid=f"audit_delete_{label}")
