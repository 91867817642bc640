"""Outages are 503s: a request that fails because Postgres or Redis is unavailable answers
503 with Retry-After and names the dependency (JSON for the API and non-HTML clients, a page with
a banner for the dashboard), never a 500 and never a traceback, even with DEBUG on.

Why a response filter rather than an exception handler: the failure can surface anywhere (a
middleware reading the session, a view, django-ninja's own handler, which with DEBUG returns the
traceback as a 500 body instead of raising). So the middleware sits near the top and looks at
every 500 on its way out: the exception Django saw (got_request_exception) names the dependency
when it was one of ours; otherwise (ninja swallowed it) a quick probe of Postgres and Redis,
bounded by short timeouts, tells an outage from a bug. 500s are rare, so probing costs nothing
in normal operation; a 500 with every dependency up stays a 500.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

POSTGRES, REDIS = "postgres", "redis"
RETRY_AFTER_SECONDS = 5
_MARK = "_amas_outage"


def dependency_of(exc: BaseException) -> str | None:
    """Which dependency an exception says is unavailable, or None if it is not an outage."""
    import redis

    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return REDIS
    if isinstance(exc, (OperationalError, InterfaceError)):
        return POSTGRES
    if isinstance(exc, DatabaseError) and "connection" in str(exc).lower():
        return POSTGRES
    try:
        from kombu.exceptions import OperationalError as BrokerError
    except ImportError:  # pragma: no cover - kombu ships with Celery
        return None
    if isinstance(exc, BrokerError):
        return REDIS
    return None


def _remember(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    import sys

    exc = sys.exc_info()[1]
    if request is not None and exc is not None and (dependency := dependency_of(exc)):
        setattr(request, _MARK, dependency)


got_request_exception.connect(_remember, dispatch_uid="amas-outage-remember")


def _postgres_up() -> bool:
    """On a connection of its own: the request's may be broken, or inside a transaction that
    closing it would ruin."""
    try:
        params = {**connection.get_connection_params(), "connect_timeout": 2}
        # The backend's driver module (psycopg), which django-stubs does not declare.
        with connection.Database.connect(**params) as probe_connection:  # type: ignore[attr-defined]
            probe_connection.execute("SELECT 1")
        return True
    except Exception:  # any failure means "down"
        return False


def _redis_up() -> bool:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.AMAS_REDIS_CONNECT_TIMEOUT,
        socket_timeout=settings.AMAS_REDIS_CONNECT_TIMEOUT,
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def probe() -> str | None:
    """The first unavailable dependency, or None when both answer."""
    if not _postgres_up():
        return POSTGRES
    if not _redis_up():
        return REDIS
    return None


def _wants_html(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return False
    accept = request.headers.get("Accept", "")
    return "text/html" in accept or request.headers.get("HX-Request") == "true"


LABELS = {POSTGRES: "the database (PostgreSQL)", REDIS: "Redis (queue, cache and live updates)"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AMAS is temporarily unavailable</title>
<meta http-equiv="refresh" content="{retry}">
<style>body{{font-family:system-ui,sans-serif;margin:0}}
.outage-banner{{background:#8a1c1c;color:#fff;padding:1rem 1.5rem;font-size:1.05rem}}
main{{padding:1.5rem}}</style></head>
<body><div class="outage-banner" role="alert" data-dependency="{dependency}">
AMAS cannot reach {label} right now. Nothing you submitted is lost; this page retries in {retry} s.
</div><main><p>If this lasts, ask an administrator to check {label}.</p></main></body></html>
"""


def outage_response(request: HttpRequest, dependency: str) -> HttpResponse:
    label = LABELS.get(dependency, dependency)
    if _wants_html(request):
        body = PAGE.format(retry=RETRY_AFTER_SECONDS, dependency=dependency, label=html.escape(label))
        response: HttpResponse = HttpResponse(body, status=HTTPStatus.SERVICE_UNAVAILABLE)
    else:
        response = JsonResponse(
            {
                "detail": f"AMAS cannot reach {label}; try again shortly.",
                "code": "dependency_unavailable",
                "dependency": dependency,
            },
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


# Liveness and readiness probes must always look for themselves.
PROBE_PATHS = ("/health", "/ready")


class OutageMiddleware:
    """Also a short hold-down: once an outage is confirmed, this process answers 503 straight
    away for AMAS_OUTAGE_HOLD_SECONDS instead of letting every request wait for the same
    timeouts (a stalled Redis costs a request about one socket timeout, not one per request)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.down: tuple[str, float] | None = None  # (dependency, since) in this process

    def __call__(self, request: HttpRequest) -> HttpResponse:
        held = self.down
        recent = held is not None and time.monotonic() - held[1] < settings.AMAS_OUTAGE_HOLD_SECONDS
        if held and recent and not request.path.startswith(PROBE_PATHS):
            return outage_response(request, held[0])
        response = self.get_response(request)
        if response.status_code != HTTPStatus.INTERNAL_SERVER_ERROR:
            return response
        dependency = getattr(request, _MARK, None) or probe()
        if dependency is None:
            return response  # a bug, not an outage: the 500 stands
        log.warning("%s %s: %s unavailable, answering 503", request.method, request.path, dependency)
        self.down = (dependency, time.monotonic())
        return outage_response(request, dependency)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        """A view's own exception: answered directly, before Django builds a (DEBUG) 500 page."""
        dependency = dependency_of(exc)
        if dependency is None:
            return None
        setattr(request, _MARK, dependency)
        self.down = (dependency, time.monotonic())
        return outage_response(request, dependency)
