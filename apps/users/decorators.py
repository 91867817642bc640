"""The sign-in check for every server-rendered page and browser download (dashboard, ops pages,
artefact downloads). It lives in users, below every app that serves pages, so there is one."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.http import HttpResponseClientRedirect

# The decorated view keeps its own signature (e.g. `request: AuthenticatedRequest`).
View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def login_required(view: View) -> View:
    """Django's login_required, except that an htmx request (a section refreshing itself after
    the session expired) sends the whole page to the login form instead of swapping it in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        htmx = getattr(request, "htmx", None)
        if htmx:
            current = htmx.current_url_abs_path or request.get_full_path()
            return HttpResponseClientRedirect(redirect_to_login(current)["Location"])
        return redirect_to_login(request.get_full_path())

    return cast(View, wrapper)
