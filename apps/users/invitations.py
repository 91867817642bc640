"""Invitations: an organisation admin invites an e-mail address with a role; the invitee follows the
link in the e-mail to allauth's sign-up, which accepts it (apps/users/adapters.py) even when open
sign-up is off, and lands in the inviting organisation with the invited role.

The link carries a random token; only its SHA-256 is stored, so a database reader cannot accept an
invitation. Resending issues a new token (the old link stops working) and a new expiry."""

from __future__ import annotations

import hashlib
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from apps.users.models import Invitation, Role, User
from apps.users.trust import request_trust

# The sign-up page's query parameter that carries the token (apps/users/adapters.py reads it).
INVITATION_PARAM = "invitation"
SESSION_KEY = "amas_invitation"  # the token's hash, kept in the session between the link and the form


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_admin(by: User) -> int:
    """The admin's organisation id."""
    if not by.is_org_admin or by.organization_id is None:
        raise PermissionDenied("Only an organisation admin can manage invitations.")
    return by.organization_id


def _clean_email(email: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed("Enter a valid e-mail address.", extra={"field": "email"}) from None
    return email


def _clean_role(role: str) -> str:
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}: one of {', '.join(Role.values)}.", extra={"field": "role"}
        )
    return role


def invitation_link(token: str, *, request: HttpRequest | None = None) -> str:
    path = f"{reverse('account_signup')}?{urlencode({INVITATION_PARAM: token})}"
    if request is not None:
        return request.build_absolute_uri(path)
    return settings.AMAS_PUBLIC_URL.rstrip("/") + path


class MailUnavailable(ApplicationError):
    """The mail server refused or could not be reached: nothing was saved, try again later."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


def _send(invitation: Invitation, token: str, *, request: HttpRequest | None) -> None:
    """Inside the caller's transaction: if the e-mail cannot go out, the invitation is not saved."""
    link = invitation_link(token, request=request)
    inviter = invitation.invited_by.email if invitation.invited_by else "An administrator"
    days = settings.AMAS_INVITATION_DAYS
    try:
        send_mail(
            subject=f"You are invited to {invitation.organization.name} on AMAS",
            message=(
                f"{inviter} invited you to join {invitation.organization.name} on AMAS as "
                f"{invitation.get_role_display().lower()}.\n\n"
                f"Create your account here (the link works once, for {days} days, until "
                f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
                "If you did not expect this, ignore this e-mail.\n"
            ),
            from_email=None,  # DEFAULT_FROM_EMAIL
            recipient_list=[invitation.email],
        )
    except (OSError, smtplib.SMTPException) as exc:
        raise MailUnavailable(
            f"The invitation e-mail could not be sent ({type(exc).__name__}); try again."
        ) from None


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # exists only here and in the e-mail


def invitation_create(
    *, by: User, email: str, role: str, request: HttpRequest | None = None
) -> IssuedInvitation:
    """Invite `email` into the admin's organisation with `role` and e-mail the link. An address
    that already has an account, or already has an open invitation, is a 409."""
    organization_id = _require_admin(by)
    email, role = _clean_email(email), _clean_role(role)
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(f"{email} already has an AMAS account.", extra={"field": "email"})
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            # An expired, unused invitation does not block a new one.
            Invitation.objects.filter(
                organization_id=organization_id,
                email=email,
                accepted_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__lte=now,
            ).update(revoked_at=now)
            invitation = Invitation.objects.create(
                organization_id=organization_id,
                email=email,
                role=role,
                token_hash=_hash(token),
                invited_by=by,
                created_at=now,
                sent_at=now,
                expires_at=now + timedelta(days=settings.AMAS_INVITATION_DAYS),
            )
            _audit("invitation.create", invitation, by=by, request=request, changes={"role": role})
            _send(invitation, token, request=request)
    except IntegrityError:
        raise Conflict(
            f"{email} already has an open invitation: resend or revoke it.", extra={"field": "email"}
        ) from None
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_resend(
    *, invitation: Invitation, by: User, request: HttpRequest | None = None
) -> IssuedInvitation:
    """A new link (the old one stops working) with a fresh expiry, e-mailed again."""
    _require_admin(by)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
        )
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            raise Conflict(f"This invitation was {invitation.status}; invite the address again instead.")
        now = timezone.now()
        token = secrets.token_urlsafe(32)
        invitation.token_hash = _hash(token)
        invitation.sent_at = now
        invitation.send_count += 1
        invitation.expires_at = now + timedelta(days=settings.AMAS_INVITATION_DAYS)
        invitation.save(update_fields=["token_hash", "sent_at", "send_count", "expires_at"])
        _audit(
            "invitation.resend",
            invitation,
            by=by,
            request=request,
            changes={"send_count": invitation.send_count},
        )
        _send(invitation, token, request=request)
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_revoke(*, invitation: Invitation, by: User, request: HttpRequest | None = None) -> Invitation:
    """The link stops working. Revoking twice is a no-op; an accepted invitation is a 409."""
    _require_admin(by)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
        )
        if invitation.accepted_at is not None:
            raise Conflict("This invitation was already accepted: deactivate the member instead.")
        if invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            _audit("invitation.revoke", invitation, by=by, request=request)
    return invitation


def invitation_for_token(token: str) -> Invitation | None:
    """The pending (unexpired, unused, unrevoked) invitation this link token opens, or None."""
    if not token or len(token) > 200:
        return None
    return invitation_pending(_hash(token))


def invitation_pending(token_hash: str) -> Invitation | None:
    """The same by the token's hash: what the sign-up keeps in the session between the link and
    the form, so the session store never holds a usable token either."""
    invitation = Invitation.objects.select_related("organization").filter(token_hash=token_hash).first()
    if invitation is None or invitation.status != "pending":
        return None
    return invitation


def invitation_accept(*, token_hash: str, user: User, request: HttpRequest | None = None) -> Invitation:
    """Called by the sign-up adapter inside its save: puts the new user in the invitation's
    organisation with its role and uses the invitation up (a second use fails)."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("organization")
            .filter(token_hash=token_hash)
            .first()
        )
        if invitation is None or invitation.status != "pending":
            raise ValidationFailed("This invitation link has expired, was revoked or was already used.")
        if user.email.lower() != invitation.email:
            raise ValidationFailed(f"This invitation is for {invitation.email}.", extra={"field": "email"})
        user.organization = invitation.organization
        user.role = invitation.role
        user.save(update_fields=["organization", "role"])
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        _audit("invitation.accept", invitation, by=user, request=request, changes={"role": invitation.role})
    return invitation


def _audit(
    event_type: str,
    invitation: Invitation,
    *,
    by: User,
    request: HttpRequest | None,
    changes: dict | None = None,
) -> None:
    audit_record(
        event_type=event_type,
        entity_type="invitation",
        entity_id=invitation.pk,
        actor=by,
        organization=invitation.organization,
        changes={"email": invitation.email, **(changes or {})},
        request=request,
        trust=request_trust(request),
    )
