"""Trust scoring: how much the current request looks like its user.

Each authenticated request scores 0-100 from how it authenticated (session or token), whether it
comes from a device (signed fingerprint cookie) and an IP address the user has completed a login
or step-up from, how many requests the user is making this minute compared with a baseline, and
recent failed sign-ins for the account. Below AMAS_TRUST_STEP_UP_THRESHOLD, sensitive actions
(`require_trust`) ask the user to re-authenticate (with MFA where they have it); afterwards the
device and IP are known and the score recovers.

Counters live in Redis (the Django cache), known devices and IPs in the database, so every process
scores the same."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.core.client_address import client_address
from apps.core.exceptions import PermissionDenied
from apps.core.security import rate_limits_count
from apps.users.mfa import mfa_enabled
from apps.users.models import KnownClient, User

DEVICE_COOKIE = "amas_device"
DEVICE_SALT = "amas.device"
FAILED_AUTH_WINDOW = 3600

PENALTY_TOKEN = 15
PENALTY_NO_MFA_SESSION = 10
PENALTY_DEVICE_UNKNOWN = 25
PENALTY_DEVICE_MISSING = 30
PENALTY_NEW_IP = 20
PENALTY_RATE = 20
PENALTY_RATE_SEVERE = 35
PENALTY_PER_FAILED_AUTH = 10
PENALTY_FAILED_AUTH_MAX = 40


@dataclass
class TrustScore:
    score: int
    factors: dict[str, object] = field(default_factory=dict)


class StepUpRequired(PermissionDenied):
    """A sensitive action from a request whose trust score is below the threshold."""

    status = HTTPStatus.FORBIDDEN

    def __init__(self, *, trust: TrustScore, step_up_url: str) -> None:
        super().__init__(
            "Please re-authenticate to continue: this request's trust score is too low for this action.",
            extra={
                "code": "step_up_required",
                "step_up_url": step_up_url,
                "trust_score": trust.score,
                "trust_factors": trust.factors,
            },
        )
        self.trust = trust
        self.step_up_url = step_up_url


# --- counters ------------------------------------------------------------------------------------


def _activity_key(user_id: int, minute: int) -> str:
    return f"trust:act:{user_id}:{minute}"


def trust_note_activity(
    *, user_id: int, request: HttpRequest | None = None, limits: Sequence[tuple[str, str]] = ()
) -> int | None:
    """Counts one authenticated request for the user in the current minute (Redis): INCR and
    EXPIRE in one round trip (add + incr were two, on every signed-in request). With `request`,
    the same round trip reads what the request's trust score needs besides (failed sign-ins,
    whether its IP and device are known): a write that audits the request (trust_evaluate) then
    asks Redis nothing more. `limits` (key, rate) are counted in the same round trip too
    (apps.core.security.rate_limits_count); returns the seconds until the first exceeded one's
    window resets, or None."""
    counter = trust_activity_counter(user_id=user_id)
    if request is None:
        return rate_limits_count(limits, counters=[counter])[0]
    reads = [_failed_key(user_id)]
    if ip := client_address(request):
        reads.append(_known_key(user_id, KnownClient.Kind.IP, ip))
    if device := device_id(request):
        reads.append(_known_key(user_id, KnownClient.Kind.DEVICE, device))
    retry_after, values = rate_limits_count(limits, counters=[counter], reads=reads)
    trust_answers_note(request, keys=[counter[0], *reads], values=values)
    return retry_after


def trust_token_reads(*, user_id: int, ip: str) -> list[str]:
    """What trust_evaluate reads for a token request besides the activity count (failed sign-ins,
    whether the IP is known), for the token authentication to read in its own Redis round trip
    (apps.users.auth) and hand to trust_answers_note with the activity count."""
    reads = [_failed_key(user_id)]
    if ip:
        reads.append(_known_key(user_id, KnownClient.Kind.IP, ip))
    return reads


def trust_answers_note(request: HttpRequest, *, keys: list[str], values: list[Any]) -> None:
    """Keep the cache's answers for `keys` (the activity counter first) for trust_evaluate of this
    request, so that it asks Redis nothing more."""
    try:  # these keys hold integers, which Django's Redis serializer stores as they are
        answers = {key: None if raw is None else int(raw) for key, raw in zip(keys, values, strict=True)}
    except (TypeError, ValueError):
        return  # not what this code wrote: trust_evaluate asks the cache itself
    request._amas_trust_answers = (_changes, answers)  # type: ignore[attr-defined]


# Counts the changes this process made to what trust_note_activity reads (a failed sign-in, a
# client remembered): answers noted before such a change, in the same request, are not used.
_changes = 0


def trust_activity_counter(*, user_id: int) -> tuple[str, int]:
    """The (cache key, timeout) trust_note_activity counts in, for a caller that bumps it
    together with other counters in one Redis round trip (apps.users.auth)."""
    return _activity_key(user_id, int(time.time() // 60)), 180


def _failed_key(user_id: int) -> str:
    return f"trust:failed:{user_id}"


def trust_note_failed_auth(*, user_id: int) -> None:
    """A failed password or MFA code for the account; counted for an hour after the last one."""
    global _changes
    _changes += 1
    key = _failed_key(user_id)
    cache.add(key, 0, timeout=FAILED_AUTH_WINDOW)
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=FAILED_AUTH_WINDOW)
    cache.touch(key, FAILED_AUTH_WINDOW)


def trust_failed_auth_count(*, user_id: int) -> int:
    return int(cache.get(_failed_key(user_id)) or 0)


# --- devices and addresses -----------------------------------------------------------------------


def device_id(request: HttpRequest) -> str:
    """The device id from the signed cookie this request presented ('' if none or forged)."""
    return getattr(request, "device_presented", "") or ""


def _known_key(user_id: int, kind: str, value: str) -> str:
    return f"trust:known:{user_id}:{kind}:{value}"


# "Not known" is cached too (every request of a user on a new IP asked the database): with
# cache.add, so a trust_remember_client that stored 1 in the meantime wins; remembering a client
# overwrites the key, so the answer changes at once. Rows are only ever added by
# trust_remember_client (and go only with their user), so nothing else can make a cached answer wrong.
_KNOWN_TTL = 3600


def _is_known(user_id: int, kind: str, value: str, cached: dict[str, object] | None = None) -> bool:
    """Whether the user completed a login or step-up from this device/IP. `cached`: the cache's
    answers already fetched for this request (trust_evaluate reads all its keys in one round trip)."""
    if not value:
        return False
    key = _known_key(user_id, kind, value)
    hit = cached.get(key) if cached is not None else cache.get(key)
    if hit is not None:
        return bool(hit)
    known = KnownClient.objects.filter(user_id=user_id, kind=kind, value=value).exists()
    if known:
        cache.set(key, 1, timeout=_KNOWN_TTL)
    else:
        cache.add(key, 0, timeout=_KNOWN_TTL)
    return known


def trust_remember_client(*, user: User, ip: str, device: str) -> None:
    """Marks this IP and device as the user's own (called after a login or a step-up)."""
    global _changes
    _changes += 1
    now = timezone.now()
    for kind, value in ((KnownClient.Kind.IP, ip), (KnownClient.Kind.DEVICE, device)):
        if not value:
            continue
        obj, created = KnownClient.objects.get_or_create(
            user=user, kind=kind, value=value[:128], defaults={"first_seen": now, "last_seen": now}
        )
        if not created:
            KnownClient.objects.filter(pk=obj.pk).update(last_seen=now)
        cache.set(_known_key(user.pk, kind, value[:128]), 1, timeout=3600)


# --- scoring -------------------------------------------------------------------------------------


def session_auth_records(request: HttpRequest) -> list[dict]:
    """How this session authenticated (allauth's records: method, time, reauthenticated)."""
    from allauth.account.internal.flows.login import get_authentication_records

    try:
        return get_authentication_records(request, request.user)
    except Exception:  # no session (e.g. a bare test request)
        return []


def trust_evaluate(request: HttpRequest) -> TrustScore:
    """The request's trust score and the factors that lowered it (cached on the request)."""
    cached = getattr(request, "_amas_trust", None)
    if cached is not None:
        return cached
    user = request.user
    if not user.is_authenticated:
        return TrustScore(0, {"auth": "anonymous"})
    penalties: dict[str, int] = {}
    factors: dict[str, object] = {}
    token = getattr(request, "auth_token", None)
    device = ""
    if token is not None:
        factors["auth"] = "token"
        penalties["auth"] = PENALTY_TOKEN
    else:
        factors["auth"] = "session"
        if not any(r.get("method") == "mfa" for r in session_auth_records(request)):
            factors["mfa"] = "not used"
            penalties["mfa"] = PENALTY_NO_MFA_SESSION
        device = device_id(request)
    ip = client_address(request)
    # Every Redis answer the score needs, in one round trip.
    now_minute = int(time.time() // 60)
    keys = [_activity_key(user.pk, now_minute), _failed_key(user.pk)]
    if ip:
        keys.append(_known_key(user.pk, KnownClient.Kind.IP, ip))
    if token is None and device:
        keys.append(_known_key(user.pk, KnownClient.Kind.DEVICE, device))
    # Read with the activity count by TrustMiddleware (trust_note_activity), unless a key is
    # missing from those answers (a token request, or the minute changed since).
    no_answers: tuple[int | None, dict[str, Any]] = (None, {})
    noted_at, noted = getattr(request, "_amas_trust_answers", no_answers)
    if noted_at == _changes and all(key in noted for key in keys):
        answers = {key: noted[key] for key in keys if noted[key] is not None}
    else:
        answers = cache.get_many(keys)
    if token is None:
        if not device:
            factors["device"] = "missing"
            penalties["device"] = PENALTY_DEVICE_MISSING
        elif not _is_known(user.pk, KnownClient.Kind.DEVICE, device, answers):
            factors["device"] = "unknown"
            penalties["device"] = PENALTY_DEVICE_UNKNOWN
        else:
            factors["device"] = "known"
    if _is_known(user.pk, KnownClient.Kind.IP, ip, answers):
        factors["ip"] = "known"
    else:
        factors["ip"] = "new"
        penalties["ip"] = PENALTY_NEW_IP
    rate = int(answers.get(keys[0]) or 0)
    baseline = settings.AMAS_TRUST_RATE_BASELINE
    factors["rate_per_minute"] = rate
    if rate > 3 * baseline:
        penalties["rate"] = PENALTY_RATE_SEVERE
    elif rate > baseline:
        penalties["rate"] = PENALTY_RATE
    failed = int(answers.get(keys[1]) or 0)
    factors["failed_auth"] = failed
    if failed:
        penalties["failed_auth"] = min(PENALTY_FAILED_AUTH_MAX, failed * PENALTY_PER_FAILED_AUTH)
    factors["penalties"] = penalties
    score = TrustScore(max(0, 100 - sum(penalties.values())), factors)
    request._amas_trust = score  # type: ignore[attr-defined]
    return score


def request_trust(request: HttpRequest | None) -> TrustScore | None:
    """The trust score audit rows written for this request carry: only a signed-in user has one."""
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return None
    return trust_evaluate(request)


# --- step-up -------------------------------------------------------------------------------------


def _recently_stepped_up(request: HttpRequest) -> bool:
    """A re-authentication within ACCOUNT_REAUTHENTICATION_TIMEOUT in this session: with MFA for
    users who have it, else with the password."""
    timeout = getattr(settings, "ACCOUNT_REAUTHENTICATION_TIMEOUT", 300)
    accepted = {"mfa"} if mfa_enabled(request.user) else {"mfa", "password"}
    now = time.time()
    return any(
        r.get("reauthenticated") and r.get("method") in accepted and now - float(r.get("at", 0)) < timeout
        for r in session_auth_records(request)
    )


def step_up_url(request: HttpRequest, *, next_url: str | None = None) -> str:
    name = "mfa_reauthenticate" if mfa_enabled(request.user) else "account_reauthenticate"
    if next_url is None:
        next_url = "/" if request.path.startswith("/api/") else request.get_full_path()
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def require_trust(request: HttpRequest, *, next_url: str | None = None) -> TrustScore:
    """Guard for sensitive actions (creating tokens, changing providers, exporting the audit
    trail). Passes when the trust score reaches AMAS_TRUST_STEP_UP_THRESHOLD, or when the session
    re-authenticated moments ago (then this device and IP become known). Raises StepUpRequired
    (403, with `step_up_url`) otherwise; API tokens cannot step up."""
    trust = trust_evaluate(request)
    if trust.score >= settings.AMAS_TRUST_STEP_UP_THRESHOLD:
        return trust
    user = request.user
    from_session = getattr(request, "auth_token", None) is None
    if isinstance(user, User) and from_session and _recently_stepped_up(request):
        trust_remember_client(user=user, ip=client_address(request), device=device_id(request))
        trust.factors["step_up"] = "recent re-authentication"
        return trust
    raise StepUpRequired(trust=trust, step_up_url=step_up_url(request, next_url=next_url))
