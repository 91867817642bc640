from django.db.models import QuerySet

from apps.core.exceptions import NotFound
from apps.users.models import ApiToken, User


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
