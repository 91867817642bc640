"""Authentication for the REST API: `Authorization: Bearer <token>` or the Django session (with
CSRF on unsafe methods). Either way the operation sees request.user, and request.auth_token is the
ApiToken (None for sessions) that apps.users.permissions.require_scope checks. Both are rate
limited per user, tokens also per token (AMAS_API_RATE_LIMIT, AMAS_API_TOKEN_RATE_LIMIT)."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from apps.core.client_address import client_address
from apps.core.exceptions import PermissionDenied
from apps.core.security import RateLimited, rate_limits_count, rate_limits_enforce
from apps.users import token_cache
from apps.users.mfa import mfa_missing
from apps.users.models import ApiToken
from apps.users.services import token_authenticate, token_hash, token_touch
from apps.users.trust import trust_activity_counter, trust_answers_note, trust_token_reads


def user_api_limit(user_id: int) -> tuple[str, str]:
    """The per-user API rate limit (cache key, rate) every API request of the user counts in."""
    return f"api:user:{user_id}", settings.AMAS_API_RATE_LIMIT


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _limit_user(user_id: int) -> None:
    # One Redis command (rate_limits_enforce) where rate_limit_enforce's add + incr make two.
    rate_limits_enforce([user_api_limit(user_id)])


def _token_limits(token_id: int, user_id: int) -> list[tuple[str, str]]:
    return [
        (f"api:token:{token_id}", settings.AMAS_API_TOKEN_RATE_LIMIT),
        user_api_limit(user_id),
    ]


def _count_token_request(token_id: int, user_id: int) -> None:
    """The user's activity (trust scoring) and the per-token and per-user limits: one Redis round
    trip instead of nine (add + exists + incr each)."""
    rate_limits_enforce(_token_limits(token_id, user_id), counters=[trust_activity_counter(user_id=user_id)])


def _cached_token(hashed: str, ip: str, request: HttpRequest) -> ApiToken | None:
    """The token from this process's cache (apps.users.token_cache) if its epoch, read in the
    same Redis round trip as the rate limits and the activity count, still holds; else None and
    the caller authenticates from the database (this request then counts twice: harmless). A
    write (likely audited, with the request's trust score) reads the score's other Redis keys in
    that round trip too."""
    entry = token_cache.entry_get(hashed)
    if entry is None:
        return None
    token, user = token_cache.entry_objects(entry)
    if not token.is_active:  # expired since it was cached
        token_cache.entry_drop(hashed)
        return None
    activity = trust_activity_counter(user_id=user.pk)
    trust_reads = [] if request.method in SAFE_METHODS else trust_token_reads(user_id=user.pk, ip=ip)
    try:
        retry_after, (activity_count, epoch, *trust_values) = rate_limits_count(
            _token_limits(token.pk, user.pk),
            counters=[activity],
            reads=[token_cache.epoch_key(hashed), *trust_reads],
        )
    except Exception:
        # Redis unreachable: the request fails (503), and this process may miss bumps meanwhile.
        token_cache.entries_clear()
        raise
    if epoch != entry.epoch:
        token_cache.entry_drop(hashed)
        return None
    if retry_after is not None:
        raise RateLimited(retry_after)
    if trust_reads:
        trust_answers_note(request, keys=[activity[0], *trust_reads], values=[activity_count, *trust_values])
    last_used = (token.last_used_at, token.last_used_ip)
    token_touch(token, ip=ip)
    if (token.last_used_at, token.last_used_ip) != last_used:
        token_cache.entry_touch(hashed, last_used_at=token.last_used_at, last_used_ip=token.last_used_ip)
    return token


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        secret, ip = token.strip(), client_address(request)
        hashed = token_hash(secret)
        api_token = _cached_token(hashed, ip, request) if hashed else None
        if api_token is None:
            api_token = token_authenticate(secret=secret, ip=ip)
            if api_token is None:
                # A wrong token is an error, never a silent fall-back to the session.
                raise AuthenticationError()
            _count_token_request(api_token.pk, api_token.user_id)
        request.user = api_token.user
        request.auth_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class SessionAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token (X-CSRFToken header)."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None  # anonymous: 401, not a CSRF failure
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken.")
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        request.auth_token = None  # type: ignore[attr-defined]
        if mfa_missing(user):
            raise PermissionDenied(
                "Your account must use two-factor authentication: set it up first.",
                extra={"code": "mfa_required", "mfa_setup_url": reverse("mfa_activate_totp")},
            )
        # TrustMiddleware counted this request against the user's API limit in its Redis round
        # trip (apps.users.middleware): only a request it did not count is counted here.
        counted, retry_after = getattr(request, "_amas_user_limit", (False, None))
        if not counted:
            _limit_user(user.pk)
        elif retry_after is not None:
            raise RateLimited(retry_after)
        return user


api_auth = [TokenAuth(), SessionAuth()]
