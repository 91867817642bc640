"""Member management by organisation admins: change a member's role, deactivate a member.

Deactivating takes effect at once: the account is marked inactive (Django's auth backends then
refuse its sessions on the next request and channels refuses its websockets; token authentication
refuses tokens of inactive users), its API tokens are revoked and its stored sessions deleted, so
re-activating the account later brings none of them back.

An organisation always keeps at least one active admin: the change that would remove the last one
(a demotion or a deactivation, which only that admin can attempt) is a 409."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.users.member_sockets import member_sockets_close_on_commit
from apps.users.models import ApiToken, Role, User
from apps.users.trust import request_trust

LAST_ADMIN = (
    "You are the organisation's last active admin: make another member admin first, "
    "so the organisation is not left without one."
)


def _require_admin(by: User, member: User) -> int:
    """The organisation's id, if `by` is an admin of the member's organisation."""
    if not by.is_org_admin or by.organization_id is None or by.organization_id != member.organization_id:
        raise PermissionDenied("Only an admin of the member's organisation can change members.")
    return by.organization_id


def _lock_admins(organization_id: int) -> list[int]:
    """Lock the organisation's active admins (two admins demoting each other at the same moment
    must not both succeed) and return their ids."""
    return list(
        User.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.ADMIN, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _still_admin(by: User, admins: list[int]) -> None:
    """`by` was checked before the lock; another admin may have demoted or deactivated them since."""
    if not by.is_superuser and by.pk not in admins:
        raise PermissionDenied("You are no longer an admin of this organisation.")


def member_set_role(*, member: User, role: str, by: User, request: HttpRequest | None = None) -> User:
    organization_id = _require_admin(by, member)
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}: one of {', '.join(Role.values)}.", extra={"field": "role"}
        )
    with transaction.atomic():
        admins = _lock_admins(organization_id)
        _still_admin(by, admins)
        member = User.objects.select_for_update(of=("self",)).select_related("organization").get(pk=member.pk)
        if member.role == role:
            return member
        if member.role == Role.ADMIN and admins == [member.pk]:
            raise Conflict(LAST_ADMIN, extra={"field": "role"})
        old = member.role
        member.role = role
        member.save(update_fields=["role"])
        _audit("member.role", member, by=by, request=request, changes={"role": [old, role]})
    return member


def member_deactivate(*, member: User, by: User, request: HttpRequest | None = None) -> User:
    """Deactivate, revoke every API token and end every session. Deactivating twice is a no-op."""
    organization_id = _require_admin(by, member)
    with transaction.atomic():
        admins = _lock_admins(organization_id)
        _still_admin(by, admins)
        member = User.objects.select_for_update(of=("self",)).select_related("organization").get(pk=member.pk)
        if not member.is_active:
            return member
        if member.role == Role.ADMIN and admins == [member.pk]:
            raise Conflict(LAST_ADMIN)
        member.is_active = False
        member.save(update_fields=["is_active"])
        revoked = _revoke_tokens(member)
        sessions = _end_sessions(member)
        member_sockets_close_on_commit(member.pk)
        _audit(
            "member.deactivate",
            member,
            by=by,
            request=request,
            changes={"tokens_revoked": revoked, "sessions_ended": sessions},
        )
    return member


def member_reactivate(*, member: User, by: User, request: HttpRequest | None = None) -> User:
    """Let a deactivated member sign in again (with new tokens: the old ones stay revoked)."""
    _require_admin(by, member)
    with transaction.atomic():
        member = User.objects.select_for_update(of=("self",)).select_related("organization").get(pk=member.pk)
        if member.is_active:
            return member
        member.is_active = True
        member.save(update_fields=["is_active"])
        _audit("member.reactivate", member, by=by, request=request)
    return member


def _revoke_tokens(member: User) -> int:
    # (A demotion needs no revocation: a token's scopes are always cut to the role's.)
    return ApiToken.objects.filter(user=member, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _end_sessions(member: User) -> int:
    """Delete the member's stored sessions (database and cache). Sessions are not indexed by user,
    so this reads every unexpired one; deactivation is rare and an organisation's sessions few.
    Correctness does not depend on it (inactive users' sessions are refused anyway): it keeps a
    later re-activation from reviving them."""
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(member.pk):
            store(session_key=session.session_key).delete()
            ended += 1
    return ended


def _audit(
    event_type: str, member: User, *, by: User, request: HttpRequest | None, changes: dict | None = None
) -> None:
    audit_record(
        event_type=event_type,
        entity_type="user",
        entity_id=member.pk,
        actor=by,
        organization=member.organization,
        changes={"email": member.email, **(changes or {})},
        request=request,
        trust=request_trust(request),
    )
