"""Request hardening shared by every app: security headers, body size limits, Redis rate limits,
and the redaction of secrets and PII from logs and audit payloads."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import NoScriptError

from apps.core.exceptions import ApplicationError

# --- headers -------------------------------------------------------------------------------------

# 'self' only: no inline scripts or styles, no third-party origins. data: images are allowed for the
# TOTP QR code and favicons; everything else (htmx, allauth's WebAuthn scripts) is served by us.
CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


CONTENT_SECURITY_POLICY = _policy(CSP_DIRECTIVES)


def csp_allow(**extra: str) -> Callable:
    """View decorator for the rare page that needs more than 'self', e.g. a vendored widget that
    sets style attributes: `@csp_allow(style_src="'unsafe-inline'")`. Sources are added to the
    named directives of this page's policy only."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            directives = dict(CSP_DIRECTIVES)
            for name, sources in extra.items():
                key = name.replace("_", "-")
                directives[key] = f"{directives.get(key, '')} {sources}".strip()
            response["Content-Security-Policy"] = _policy(directives)
            return response

        return wrapped

    return decorator


class SecurityHeadersMiddleware:
    """Adds CSP and the other browser hardening headers to every response (HSTS, SSL redirect and
    secure cookies come from Django's SecurityMiddleware and production settings)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("X-Content-Type-Options", "nosniff")
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault("X-Frame-Options", "DENY")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        return response


# --- body size -----------------------------------------------------------------------------------


class BodySizeLimitMiddleware:
    """413 for API requests whose declared body exceeds AMAS_MAX_BODY_BYTES (multipart uploads:
    AMAS_MAX_UPLOAD_BYTES), before anything reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            limit, name, setting = settings.AMAS_MAX_BODY_BYTES, "body_bytes", "AMAS_MAX_BODY_BYTES"
            if request.content_type == "multipart/form-data":
                limit, name, setting = settings.AMAS_MAX_UPLOAD_BYTES, "upload_bytes", "AMAS_MAX_UPLOAD_BYTES"
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Invalid Content-Length."}, status=HTTPStatus.BAD_REQUEST)
            if length > limit:
                return JsonResponse(
                    {
                        "detail": f"Request body too large: {length} bytes, {setting} is {limit}.",
                        "limit": name,
                        "max": limit,
                    },
                    status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                )
        return self.get_response(request)


# --- rate limits ---------------------------------------------------------------------------------

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "120/m", "10/5m", "1000/h"."""
        count, _, period = text.partition("/")
        match = re.fullmatch(r"(\d*)([smhd])", period.strip())
        if not count.strip().isdigit() or not match:
            raise ValueError(f"Invalid rate {text!r}: expected like '120/m' or '10/5m'.")
        return cls(int(count), int(match.group(1) or 1) * _PERIODS[match.group(2)])


class RateLimited(ApplicationError):
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests.", extra={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


def rate_limit_hit(key: str, rate: Rate) -> int | None:
    """Counts one hit on `key` in a fixed window held in Redis (shared by every process).
    Returns None while under the limit, else the seconds until the window resets."""
    now = time.time()
    window = int(now // rate.seconds)
    bucket = f"rl:{key}:{rate.seconds}:{window}"
    cache.add(bucket, 0, timeout=rate.seconds + 1)
    try:
        hits = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=rate.seconds + 1)
        hits = 1
    if hits <= rate.count:
        return None
    return max(1, math.ceil((window + 1) * rate.seconds - now))


def rate_limit_enforce(key: str, rate: Rate | str) -> None:
    if isinstance(rate, str):
        rate = Rate.parse(rate)
    retry_after = rate_limit_hit(key, rate)
    if retry_after is not None:
        raise RateLimited(retry_after)


def cache_redis_client(backend: RedisCache) -> Any:
    """The redis-py client over the cache's (per-process, shared) pool: the one
    apps.core.cache.SharedClientRedisCache builds once per pool (Django's own get_client() builds
    a new redis.Redis on every call). Private attribute of Django's RedisCache: it has no public
    accessor for the client."""
    return backend._cache.get_client(write=True)  # type: ignore[attr-defined]


# INCR + EXPIRE per counter key, then GET per read key, as ONE command: a pipeline of the same
# commands costs the client a command packed and a reply parsed each (7 for a token request's two
# rate limits, activity counter and token epoch), measurably more CPU than one EVALSHA.
# KEYS: the counters, then the reads; ARGV: the number of counters, then each counter's timeout.
_BUMP_LUA = """
local counters = tonumber(ARGV[1])
local out = {}
for i = 1, counters do
  out[i] = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[i + 1])
end
for i = counters + 1, #KEYS do
  out[i] = redis.call('GET', KEYS[i])
end
return out
"""
_BUMP_SHA = hashlib.sha1(_BUMP_LUA.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


def counters_bump(counters: Sequence[tuple[str, int]], *, reads: Sequence[str] = ()) -> list[int]:
    """Add one to each (cache key, timeout) counter and return the new values: one Redis round
    trip and one command (a script: INCR + EXPIRE per key) where add + incr cost three round trips
    per key. The values read back with cache.get (Django's Redis serializer stores integers as
    they are). `reads`: cache keys to GET in the same command; their raw values (bytes or None)
    follow the counters' in the result."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        values: list[Any] = []
        for key, timeout in counters:
            backend.add(key, 0, timeout=timeout)
            values.append(backend.incr(key))
        return values + [backend.get(key) for key in reads]
    keys = [backend.make_and_validate_key(key) for key, _ in counters]
    keys += [backend.make_and_validate_key(key) for key in reads]
    args = [len(counters), *(timeout for _, timeout in counters)]
    client = cache_redis_client(backend)
    try:
        results = client.evalsha(_BUMP_SHA, len(keys), *keys, *args)
    except NoScriptError:  # first use since Redis started: EVAL loads it for the next calls
        results = client.eval(_BUMP_LUA, len(keys), *keys, *args)
    return [int(value) for value in results[: len(counters)]] + list(results[len(counters) :])


def rate_limits_count(
    limits: Sequence[tuple[str, Rate | str]],
    *,
    counters: Sequence[tuple[str, int]] = (),
    reads: Sequence[str] = (),
) -> tuple[int | None, list[Any]]:
    """Count one hit on each limit (and bump `counters`, GET `reads`) in one Redis round trip:
    (seconds until the first exceeded limit's window resets, or None; the counters' new values
    followed by the values read)."""
    now = time.time()
    buckets = []
    for key, rate in limits:
        rate = Rate.parse(rate) if isinstance(rate, str) else rate
        window = int(now // rate.seconds)
        buckets.append((f"rl:{key}:{rate.seconds}:{window}", rate, window))
    values = counters_bump(
        [(bucket, rate.seconds + 1) for bucket, rate, _ in buckets] + list(counters), reads=reads
    )
    retry_after = None
    for (_, rate, window), count in zip(buckets, values, strict=False):
        if count > rate.count:
            retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
            break
    return retry_after, values[len(buckets) :]


def rate_limits_enforce(
    limits: Sequence[tuple[str, Rate | str]], *, counters: Sequence[tuple[str, int]] = ()
) -> None:
    """rate_limit_enforce for several limits at once (the first one exceeded raises), together
    with other `counters` to bump, in one Redis round trip (an API request checks two limits and
    counts the user's activity)."""
    retry_after, _ = rate_limits_count(limits, counters=counters)
    if retry_after is not None:
        raise RateLimited(retry_after)


# --- redaction -----------------------------------------------------------------------------------

REDACTED = "[redacted]"

# Keys whose values are never logged or audited.
SECRET_KEY_RE = re.compile(
    r"(pass(word|wd|phrase)?|secret|token(?!s)|api[_-]?key|apikey|authorization|auth[_-]?header|"
    r"cookie|session[_-]?id|sessionid|csrf|private[_-]?key|credential|otp|recovery[_-]?code|"
    r"access[_-]?key|signature)",
    re.IGNORECASE,
)
# Values that look like credentials wherever they appear.
_TOKEN_VALUE_RES = [
    re.compile(r"\b((?i:bearer|basic)|Token)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\bamas_[0-9a-f]{8}_[A-Za-z0-9_-]{16,}"),  # our API tokens
    re.compile(r"\bsk-(ant-)?[A-Za-z0-9_-]{12,}"),  # OpenAI / Anthropic style keys
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"),  # Google API keys
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
]
# key=value, key: value, "key": "value" with a secret-looking key.
_PAIR_RE = re.compile(
    r"""(?P<key>["']?[\w.-]*"""
    + SECRET_KEY_RE.pattern
    + r"""[\w.-]*["']?)(?P<sep>\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^\s"',;&}]+)""",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def _mask_token(match: re.Match[str]) -> str:
    scheme = match.group(1) if match.re is _TOKEN_VALUE_RES[0] else ""
    return f"{scheme} {REDACTED}" if scheme else REDACTED


def redact_text(text: str, *, mask_emails: bool | None = None) -> str:
    """Masks credentials (and, per AMAS_MASK_EMAILS_IN_LOGS, e-mail addresses) in free text."""
    for pattern in _TOKEN_VALUE_RES:
        text = pattern.sub(_mask_token, text)
    text = _PAIR_RE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{m.group('quote')}{REDACTED}", text)
    if mask_emails is None:
        mask_emails = getattr(settings, "AMAS_MASK_EMAILS_IN_LOGS", True)
    if mask_emails:
        text = _EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return text


def redact_data(value: Any) -> Any:
    """A copy of a JSON-like value with secret-looking keys dropped to "[redacted]" and
    credential-looking strings masked. E-mails are kept: this is for audit payloads."""
    if isinstance(value, dict):
        return {
            str(k): (REDACTED if SECRET_KEY_RE.search(str(k)) else redact_data(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact_text(value, mask_emails=False)
    return value


class RedactingFilter(logging.Filter):
    """Logging filter (installed on every handler in LOGGING) that rewrites each record's message,
    arguments and traceback text with secrets and PII masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log what we have rather than nothing
            message = f"{record.msg} {record.args}"
        record.msg = redact_text(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
