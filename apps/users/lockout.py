"""A locked sign-in answers 429 with Retry-After instead of the form again with 200.

allauth counts failed sign-ins (ACCOUNT_RATE_LIMITS["login_failed"], e.g. "10/m/ip,5/5m/key")
per client address (the trusted-proxy address of apps/core/client_address.py, through
AccountAdapter.get_client_ip) and per account (the login identifier). When either is exhausted,
the answer says how long until the oldest counted failure leaves the window that is full."""

from __future__ import annotations

import math
import time
from http import HTTPStatus

from allauth.core.internal.ratelimit import get_cache_key, get_rates
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

APP = "allauth.account"
ACTION = "login_failed"


def sign_in_retry_after(request: HttpRequest, *, key: str) -> int:
    """Seconds until a sign-in for `key` from this client address would be counted again."""
    now = time.time()
    waits = [1]
    for rate in get_rates(app=APP, action=ACTION):
        counted = cache.get(get_cache_key(request, app=APP, action=ACTION, rate=rate, key=key), [])
        history = [t for t in counted if t > now - rate.duration]
        if len(history) >= rate.amount:
            waits.append(math.ceil(min(history) + rate.duration - now))
    return max(waits)


def sign_in_locked_response(request: HttpRequest, *, key: str) -> HttpResponse:
    seconds = sign_in_retry_after(request, key=key)
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Too many sign-in attempts</title>"
        "<h1>Too many failed login attempts</h1>"
        f"<p>Sign-in is paused for this account or address. Try again in {seconds} seconds.</p></html>"
    )
    response = HttpResponse(page, status=HTTPStatus.TOO_MANY_REQUESTS)
    response["Retry-After"] = str(seconds)
    return response
