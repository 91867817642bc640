"""Role and scope checks shared by the API, views and consumers.

A request is made by a user through a session or through an API token (request.auth_token, set
by the token authentication); tokens carry scopes that narrow what the user's role allows."""

from typing import Any

from django.http import HttpRequest

from apps.core.exceptions import PermissionDenied
from apps.users.models import User

ROLE_SCOPES = {
    "viewer": {"tasks:read", "agents:read"},
    "analyst": {"tasks:read", "tasks:write", "agents:read"},
    "admin": {"tasks:read", "tasks:write", "agents:read", "admin"},
}


def user_scopes(user: User) -> set[str]:
    if user.is_superuser:
        return ROLE_SCOPES["admin"]
    return ROLE_SCOPES.get(user.role, set())


def has_scope(*, user: Any, token: Any, scope: str) -> bool:
    """Whether a user (and, for token requests, their token) allows `scope`. For consumers:
    pass scope["user"] and scope.get("auth_token")."""
    if user is None or not user.is_authenticated or scope not in user_scopes(user):
        return False
    return token is None or scope in token.scopes


def require_scope(request: HttpRequest, scope: str) -> User:
    """The request's user, if both their role and (for token requests) the token allow `scope`."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied("Authentication required.")
    if scope not in user_scopes(user):
        raise PermissionDenied(f"Your role does not allow {scope}.")
    token = getattr(request, "auth_token", None)
    if token is not None and scope not in token.scopes:
        raise PermissionDenied(f"This API token lacks the scope {scope}.")
    return user
