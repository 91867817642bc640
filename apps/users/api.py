"""REST API for the signed-in identity and its API tokens under /api/v1/."""

from datetime import timedelta
from http import HTTPStatus

from django.utils import timezone
from ninja import Router

from apps.core.api_errors import errors
from apps.core.exceptions import PermissionDenied
from apps.users import selectors, services
from apps.users.http import AuthenticatedRequest
from apps.users.permissions import user_scopes
from apps.users.schemas import MeOut, TokenCreatedOut, TokenIn, TokenOut
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
