"""Per-request identity checks: the device cookie and activity count behind trust scoring, and
the redirect that makes users who must use MFA set it up before anything else."""

import uuid
from collections.abc import Callable
from functools import partial
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from apps.users.auth import user_api_limit
from apps.users.mfa import mfa_missing
from apps.users.session_user import session_user
from apps.users.trust import DEVICE_COOKIE, DEVICE_SALT, trust_note_activity

DEVICE_COOKIE_AGE = 60 * 60 * 24 * 400  # browsers cap cookie lifetimes at 400 days


class TrustMiddleware:
    """Gives every browser a stable device id in a signed cookie (a forged or missing cookie
    counts as no device) and counts each signed-in request for the request-rate factor. Token
    requests are counted by the token authentication, which runs later."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            presented = request.get_signed_cookie(DEVICE_COOKIE, default="", salt=DEVICE_SALT)
        except signing.BadSignature:
            presented = ""
        # Per-request attributes of AMAS (django-stubs' HttpRequest does not declare them).
        request.device_presented = presented  # type: ignore[attr-defined]
        request.auth_token = None  # type: ignore[attr-defined]
        if request.user.is_authenticated:
            # A session's API request also counts against the user's API rate limit in this
            # Redis round trip; SessionAuth then only reads the answer (one round trip, not two).
            session_api = request.path.startswith("/api/") and "HTTP_AUTHORIZATION" not in request.META
            retry_after = trust_note_activity(
                user_id=request.user.pk,
                request=request,
                limits=[user_api_limit(request.user.pk)] if session_api else [],
            )
            if session_api:
                request._amas_user_limit = (True, retry_after)  # type: ignore[attr-defined]
        response = self.get_response(request)
        # Browsers only: a bearer-token client keeps no cookies (it would be handed a new device
        # id on every request, and signing one is a measurable share of a token request's CPU).
        if (
            not presented
            and "HTTP_AUTHORIZATION" not in request.META
            and not request.path.startswith(("/static/", "/health", "/ready"))
        ):
            response.set_signed_cookie(
                DEVICE_COOKIE,
                uuid.uuid4().hex,
                salt=DEVICE_SALT,
                max_age=DEVICE_COOKIE_AGE,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


def _request_session_user(request: HttpRequest) -> object:
    if not hasattr(request, "_cached_user"):
        request._cached_user = session_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class SessionUserMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware (a subclass: what checks for it still finds it) whose
    lazy request.user is apps.users.session_user.session_user: the same user and the same session
    checks, from a per-process cache that a change to the user ends in every process. request.auser
    (async code) stays Django's."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)  # the session check and request.auser
        request.user = SimpleLazyObject(partial(_request_session_user, request))  # type: ignore[assignment]


class BearerRequestUserMiddleware:
    """AuthenticationMiddleware's place in the chain of bearer-token API requests
    (amas/asgi.py, settings.BROWSER_ONLY_MIDDLEWARE): the user is anonymous until the token authenticates
    (apps.users.auth.TokenAuth sets request.user); a session cookie sent along is not read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user = AnonymousUser()
        return self.get_response(request)


# Paths a user without required MFA may still reach: allauth (set up MFA, log out, re-authenticate)
# and what the pages need.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/health", "/ready", "/favicon")


class MFARequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(MFA_EXEMPT_PREFIXES) and mfa_missing(request.user):
            setup_url = reverse("mfa_activate_totp")
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {
                        "detail": "Your account must use two-factor authentication: set it up first.",
                        "code": "mfa_required",
                        "mfa_setup_url": setup_url,
                    },
                    status=HTTPStatus.FORBIDDEN,
                )
            return HttpResponseRedirect(setup_url)
        return self.get_response(request)
