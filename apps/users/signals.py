"""Audit rows for sign-ins, sign-outs, password and MFA changes (Django auth, allauth and
allauth.mfa signals), and the trust state they change (known devices and addresses, failed
attempts). They live with the users app, which owns that state, and write through
apps.audit.services.audit_record; audit knows nothing of users. Connected in UsersConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import signals as auth_signals

from apps.audit.services import audit_record
from apps.core.client_address import client_address
from apps.users.models import User
from apps.users.trust import (
    device_id,
    request_trust,
    session_auth_records,
    trust_note_failed_auth,
    trust_remember_client,
)

# --- sign-in -------------------------------------------------------------------------------------


def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    methods = []
    if request is not None and hasattr(request, "session"):
        methods = sorted({str(r.get("method")) for r in session_auth_records(request)})
    audit_record(
        event_type="auth.login",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        changes={"methods": methods},
        request=request,
        trust=request_trust(request),
    )
    # Recorded after the audit row, whose trust factors therefore still show a new device or IP.
    if request is not None:
        trust_remember_client(user=user, ip=client_address(request), device=device_id(request))


def _on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
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
        trust=request_trust(request),
    )


def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    audit_record(
        event_type="auth.logout",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        request=request,
        trust=request_trust(request),
    )


def _on_password_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(
        event_type="auth.password_changed",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        request=request,
        trust=request_trust(request),
    )


def _on_password_reset(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(
        event_type="auth.password_reset",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        request=request,
        trust=request_trust(request),
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
            trust=request_trust(request),
        )

    receiver.__name__ = f"audit_{event_type.replace('.', '_')}"
    return receiver


def _on_mfa_used(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    if not kwargs.get("reauthenticated"):
        return  # sign-ins with MFA are recorded by auth.login (methods include "mfa")
    audit_record(
        event_type="auth.step_up",
        entity_type="user",
        entity_id=user.pk,
        actor=user,
        changes={"method": "mfa", "type": authenticator.type},
        request=request,
        trust=request_trust(request),
    )
    trust_remember_client(user=user, ip=client_address(request), device=device_id(request))


def _on_mfa_failed(sender: Any, request: Any, user: Any, authenticator: Any = None, **kwargs: Any) -> None:
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
        trust=request_trust(request),
    )


def connect() -> None:
    from allauth.account import signals as account_signals
    from allauth.mfa import signals as mfa_signals

    # The dispatch uids are the ones these receivers had under apps.audit, so nothing doubles.
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
