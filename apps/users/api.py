"""REST API for the signed-in identity, its API tokens, and the organisation's members and
invitations under /api/v1/."""

from datetime import timedelta
from http import HTTPStatus
from typing import Literal

from django.utils import timezone
from ninja import Router

from apps.core.api_errors import errors
from apps.core.exceptions import PermissionDenied
from apps.users import invitations, members, selectors, services
from apps.users.http import AuthenticatedRequest
from apps.users.permissions import require_scope, user_scopes
from apps.users.schemas import (
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberPatch,
    MeOut,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
)
from apps.users.trust import require_trust

router = Router(tags=["identity"])


@router.get("/me", response={HTTPStatus.OK: MeOut, **errors()}, url_name="me")
def me(request: AuthenticatedRequest):
    """Who this request is: user, organisation, role, and the scopes in effect."""
    user = request.user
    token = getattr(request, "auth_token", None)
    scopes = user_scopes(user) if token is None else user_scopes(user) & set(token.scopes)
    return {
        "id": user.pk,
        "email": user.email,
        "organization": user.organization.name if user.organization is not None else None,
        "role": user.role,
        "scopes": sorted(scopes),
        "auth": "token" if token is not None else "session",
        "token_prefix": token.prefix if token is not None else None,
    }


@router.get("/tokens", response={HTTPStatus.OK: list[TokenOut], **errors(422)}, url_name="list_tokens")
def list_tokens(request: AuthenticatedRequest, all: bool = False):
    """Your API tokens (org admins: `?all=true` for every member's)."""
    token = getattr(request, "auth_token", None)
    whole_org = all and (token is None or "admin" in token.scopes)
    return selectors.token_list(user=request.user, whole_organization=whole_org)


@router.post(
    "/tokens", response={HTTPStatus.CREATED: TokenCreatedOut, **errors(body=True)}, url_name="create_token"
)
def create_token(request: AuthenticatedRequest, payload: TokenIn):
    """Create a token. The response carries the secret once; only its hash is stored. Needs a
    signed-in session (tokens cannot mint tokens) with enough trust (else 403 with step_up_url)."""
    if getattr(request, "auth_token", None) is not None:
        raise PermissionDenied("API tokens cannot create API tokens: sign in to create one.")
    require_trust(request, next_url="/")
    expires_at = None
    if payload.expires_in_days is not None:
        expires_at = timezone.now() + timedelta(days=payload.expires_in_days)
    issued = services.token_create(
        user=request.user, name=payload.name, scopes=payload.scopes, expires_at=expires_at, request=request
    )
    issued.token.token = issued.secret  # type: ignore[attr-defined]  # in this one response, never stored
    return HTTPStatus.CREATED, issued.token


@router.delete(
    "/tokens/{token_id}", response={HTTPStatus.NO_CONTENT: None, **errors(404, 422)}, url_name="revoke_token"
)
def revoke_token(request: AuthenticatedRequest, token_id: int):
    """Revoke a token (your own; org admins: any in the organisation)."""
    auth_token = getattr(request, "auth_token", None)
    token = selectors.token_get(user=request.user, token_id=token_id)
    if auth_token is not None and token.user_id != request.user.pk and "admin" not in auth_token.scopes:
        raise PermissionDenied("Revoking another member's token needs the admin scope.")
    services.token_revoke(token=token, by=request.user, request=request)
    return HTTPStatus.NO_CONTENT, None


# --- members and invitations (organisation admins write; apps/users/members.py, invitations.py) ---


@router.get("/members", response={HTTPStatus.OK: list[MemberOut], **errors()}, url_name="list_members")
def list_members(request: AuthenticatedRequest):
    """The members of your organisation (every member may read the list)."""
    return selectors.member_list(user=request.user)


@router.get(
    "/members/{member_id}", response={HTTPStatus.OK: MemberOut, **errors(404, 422)}, url_name="get_member"
)
def get_member(request: AuthenticatedRequest, member_id: int):
    return selectors.member_get(user=request.user, member_id=member_id)


@router.patch(
    "/members/{member_id}",
    response={HTTPStatus.OK: MemberOut, **errors(404, 409, body=True)},
    url_name="update_member",
)
def update_member(request: AuthenticatedRequest, member_id: int, payload: MemberPatch):
    """Change a member's role (admin). The organisation's last active admin cannot be demoted (409)."""
    user = require_scope(request, "admin")
    member = selectors.member_get(user=user, member_id=member_id)
    return members.member_set_role(member=member, role=payload.role, by=user, request=request)


@router.post(
    "/members/{member_id}/deactivate",
    response={HTTPStatus.OK: MemberOut, **errors(404, 409)},
    url_name="deactivate_member",
)
def deactivate_member(request: AuthenticatedRequest, member_id: int):
    """Deactivate a member (admin): their API tokens are revoked and their sessions end at once.
    The organisation's last active admin cannot be deactivated (409)."""
    user = require_scope(request, "admin")
    member = selectors.member_get(user=user, member_id=member_id)
    return members.member_deactivate(member=member, by=user, request=request)


@router.post(
    "/members/{member_id}/reactivate",
    response={HTTPStatus.OK: MemberOut, **errors(404)},
    url_name="reactivate_member",
)
def reactivate_member(request: AuthenticatedRequest, member_id: int):
    """Let a deactivated member sign in again (their old tokens stay revoked)."""
    user = require_scope(request, "admin")
    member = selectors.member_get(user=user, member_id=member_id)
    return members.member_reactivate(member=member, by=user, request=request)


@router.get(
    "/invitations", response={HTTPStatus.OK: list[InvitationOut], **errors()}, url_name="list_invitations"
)
def list_invitations(
    request: AuthenticatedRequest, status: Literal["pending", "accepted", "revoked", "expired"] | None = None
):
    """Your organisation's invitations, newest first (admin)."""
    user = require_scope(request, "admin")
    return selectors.invitation_list(user=user, status=status)


@router.post(
    "/invitations",
    response={HTTPStatus.CREATED: InvitationOut, **errors(409, body=True)},
    url_name="create_invitation",
)
def create_invitation(request: AuthenticatedRequest, payload: InvitationIn):
    """Invite an e-mail address into your organisation with a role (admin). The link goes to the
    address by e-mail only and expires after AMAS_INVITATION_DAYS. An address with an account or
    an open invitation is a 409."""
    user = require_scope(request, "admin")
    issued = invitations.invitation_create(by=user, email=payload.email, role=payload.role, request=request)
    return HTTPStatus.CREATED, issued.invitation


@router.get(
    "/invitations/{invitation_id}",
    response={HTTPStatus.OK: InvitationOut, **errors(404, 422)},
    url_name="get_invitation",
)
def get_invitation(request: AuthenticatedRequest, invitation_id: int):
    user = require_scope(request, "admin")
    return selectors.invitation_get(user=user, invitation_id=invitation_id)


@router.post(
    "/invitations/{invitation_id}/resend",
    response={HTTPStatus.OK: InvitationOut, **errors(404, 409)},
    url_name="resend_invitation",
)
def resend_invitation(request: AuthenticatedRequest, invitation_id: int):
    """E-mail a new link (the previous one stops working) with a fresh expiry (admin)."""
    user = require_scope(request, "admin")
    invitation = selectors.invitation_get(user=user, invitation_id=invitation_id)
    return invitations.invitation_resend(invitation=invitation, by=user, request=request).invitation


@router.delete(
    "/invitations/{invitation_id}",
    response={HTTPStatus.NO_CONTENT: None, **errors(404, 409, 422)},
    url_name="revoke_invitation",
)
def revoke_invitation(request: AuthenticatedRequest, invitation_id: int):
    """Revoke an invitation: its link stops working (admin). An accepted one is a 409."""
    user = require_scope(request, "admin")
    invitation = selectors.invitation_get(user=user, invitation_id=invitation_id)
    invitations.invitation_revoke(invitation=invitation, by=user, request=request)
    return HTTPStatus.NO_CONTENT, None
