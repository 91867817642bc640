"""The request type of views and API operations that only signed-in users reach.

For type checkers only: at run time it is Django's HttpRequest. Behind `login_required` or the API's
authentication `request.user` is an AMAS User, never AnonymousUser, and the users app's middleware
and API authentication set `auth_token` (the ApiToken, None for sessions); django-htmx sets
`htmx`. Annotating such a
view's `request` with this type says so once, instead of a cast at every use (the pattern
django-stubs documents for custom request attributes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from apps.users.models import ApiToken, User


class AuthenticatedRequest(HttpRequest):
    user: User  # narrower than HttpRequest's `User | AnonymousUser`
    auth_token: ApiToken | None
    htmx: HtmxDetails  # django-htmx's middleware sets it on every request
