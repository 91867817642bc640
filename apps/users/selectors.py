from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.exceptions import NotFound
from apps.users.models import ApiToken, Invitation, User


def token_list(*, user: User, whole_organization: bool = False) -> QuerySet[ApiToken]:
    """The user's tokens; with whole_organization, an org admin sees every member's."""
    qs = ApiToken.objects.select_related("user")
    if whole_organization and user.is_org_admin:
        if user.organization_id is None:  # an organisation's tokens: a user without one has none
            return qs.none()
        return qs.filter(organization_id=user.organization_id)
    return qs.filter(user=user)


def token_get(*, user: User, token_id: int) -> ApiToken:
    """A token the user may manage (their own; any in their organisation for org admins).
    Others' tokens are reported as missing, never as forbidden."""
    qs = ApiToken.objects.select_related("user", "organization")
    if user.is_superuser:
        token = qs.filter(pk=token_id).first()
    elif user.is_org_admin:
        org = user.organization_id
        token = qs.filter(pk=token_id, organization_id=org).first() if org is not None else None
    else:
        token = qs.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("No such token.")
    return token


# --- members and invitations ---------------------------------------------------------------------


def member_list(*, user: User) -> QuerySet[User]:
    """The members of the user's organisation (active first), for any member to read."""
    if user.organization_id is None:
        return User.objects.none()
    return User.objects.filter(organization_id=user.organization_id).order_by("-is_active", "email")


def member_get(*, user: User, member_id: int) -> User:
    """A member of the user's organisation; anyone else is reported as missing."""
    member = None
    if user.organization_id is not None:
        member = (
            User.objects.select_related("organization")
            .filter(pk=member_id, organization_id=user.organization_id)
            .first()
        )
    if member is None:
        raise NotFound("No such member.")
    return member


def invitation_list(*, user: User, status: str | None = None) -> list[Invitation]:
    """The invitations of the admin's organisation, newest first; `status` filters (pending,
    accepted, revoked, expired)."""
    if user.organization_id is None or not user.is_org_admin:
        return []
    qs = Invitation.objects.select_related("invited_by", "accepted_by").filter(
        organization_id=user.organization_id
    )
    now = timezone.now()
    filters = {
        "pending": Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now),
        "accepted": Q(accepted_at__isnull=False),
        "revoked": Q(accepted_at__isnull=True, revoked_at__isnull=False),
        "expired": Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__lte=now),
    }
    if status:
        qs = qs.filter(filters[status])
    return list(qs[:500])


def invitation_get(*, user: User, invitation_id: int) -> Invitation:
    invitation = None
    if user.organization_id is not None and user.is_org_admin:
        invitation = (
            Invitation.objects.select_related("organization", "invited_by")
            .filter(pk=invitation_id, organization_id=user.organization_id)
            .first()
        )
    if invitation is None:
        raise NotFound("No such invitation.")
    return invitation
