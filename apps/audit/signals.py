"""Audit rows for what happens outside our services: sign-ins (allauth and Django auth signals),
MFA changes (allauth.mfa signals), admin actions (LogEntry) and changes to security-relevant
models wherever they are saved (admin, shell, services). Connected in AuditConfig.ready()."""

from __future__ import annotations

import hashlib
from typing import Any

from django.apps import apps
from django.contrib.auth import signals as auth_signals
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


# --- sign-in -------------------------------------------------------------------------------------


def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from apps.core.client_address import client_address
    from apps.users.trust import device_id, trust_remember_client

    methods = []
    if request is not None and hasattr(request, "session"):
        from apps.users.trust import _session_records

        methods = sorted({str(r.get("method")) for r in _session_records(request)})
    audit_record(
        event_type="auth.login",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        changes={"methods": methods},
        request=request,
    )
    # Recorded after the audit row, whose trust factors therefore still show a new device or IP.
    if request is not None:
        trust_remember_client(user=user, ip=client_address(request), device=device_id(request))


def _on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    from apps.users.models import User
    from apps.users.trust import trust_note_failed_auth

    identifier = str(credentials.get("email") or credentials.get("username") or "")
    user = (
        User.objects.filter(email__iexact=identifier).only("pk", "organization_id").first()
        if identifier
        else None
    )
    if user is not None:
        trust_note_failed_auth(user_id=user.pk)
    audit_record(
        event_type="auth.login_failed",
        entity_type="user",
        entity_id=user.pk if user is not None else "",
        organization=user.organization if user is not None else None,
        changes={"identifier": identifier[:254], "stage": "password"},
        request=request,
    )


def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    audit_record(event_type="auth.logout", entity_type="user", entity_id=user.pk, actor=user, request=request)


def _on_password_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(
        event_type="auth.password_changed", entity_type="user", entity_id=user.pk, actor=user, request=request
    )


def _on_password_reset(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(
        event_type="auth.password_reset", entity_type="user", entity_id=user.pk, actor=user, request=request
    )


# --- MFA -----------------------------------------------------------------------------------------


def _mfa_receiver(event_type: str) -> Any:
    def receiver(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
        audit_record(
            event_type=event_type,
            entity_type="authenticator",
            entity_id=authenticator.pk or "",
            actor=user,
            changes={"type": authenticator.type},
            request=request,
        )

    receiver.__name__ = f"audit_{event_type.replace('.', '_')}"
    return receiver


def _on_mfa_used(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    if not kwargs.get("reauthenticated"):
        return  # sign-ins with MFA are recorded by auth.login (methods include "mfa")
    from apps.core.client_address import client_address
    from apps.users.trust import device_id, trust_remember_client

    audit_record(
        event_type="auth.step_up",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        changes={"method": "mfa", "type": authenticator.type},
        request=request,
    )
    trust_remember_client(user=user, ip=client_address(request), device=device_id(request))


def _on_mfa_failed(sender: Any, request: Any, user: Any, authenticator: Any = None, **kwargs: Any) -> None:
    from apps.users.trust import trust_note_failed_auth

    trust_note_failed_auth(user_id=user.pk)
    audit_record(
        event_type="auth.login_failed",
        entity_type="user",
        entity_id=user.pk,
        organization=user.organization,
        changes={
            "identifier": user.email,
            "stage": "reauthentication" if kwargs.get("reauthentication") else "mfa",
            "type": getattr(authenticator, "type", ""),
        },
        request=request,
    )


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
    from allauth.account import signals as account_signals
    from allauth.mfa import signals as mfa_signals
    from django.contrib.admin.models import LogEntry

    auth_signals.user_logged_in.connect(_on_login, dispatch_uid="audit_login")
    auth_signals.user_login_failed.connect(_on_login_failed, dispatch_uid="audit_login_failed")
    auth_signals.user_logged_out.connect(_on_logout, dispatch_uid="audit_logout")
    account_signals.password_changed.connect(_on_password_changed, dispatch_uid="audit_password_changed")
    account_signals.password_reset.connect(_on_password_reset, dispatch_uid="audit_password_reset")
    for signal, event_type in (
        (mfa_signals.authenticator_added, "mfa.added"),
        (mfa_signals.authenticator_removed, "mfa.removed"),
        (mfa_signals.authenticator_reset, "mfa.reset"),
    ):
        signal.connect(_mfa_receiver(event_type), dispatch_uid=f"audit_{event_type}", weak=False)
    mfa_signals.authenticator_used.connect(_on_mfa_used, dispatch_uid="audit_mfa_used")
    mfa_signals.authentication_failed.connect(_on_mfa_failed, dispatch_uid="audit_mfa_failed")
    post_save.connect(_on_admin_log, sender=LogEntry, dispatch_uid="audit_admin_log")
    for label in AUDITED_MODELS:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue  # that app (or model) is not installed
        pre_save.connect(_pre_save, sender=model, dispatch_uid=f"audit_pre_{label}")
        post_save.connect(_post_save, sender=model, dispatch_uid=f"audit_post_{label}")
        post_delete.connect(_post_delete, sender=model, dispatch_uid=f"audit_delete_{label}")
