"""Operator endpoints: /metrics (Prometheus), /health/services (the dependency graph as JSON) and
/ops/health (the same as a page).

/metrics and /health/services answer requests that present the operator token
(`Authorization: Bearer $AMAS_METRICS_TOKEN`) or come from AMAS_METRICS_ALLOWED_NETWORKS (by the
client address of apps/core/client_address.py: X-Forwarded-For counts only from trusted proxies).
/health/services also accepts an AMAS API token, so `amas health` works with the CLI's
credentials; it touches neither the cache nor the rate limiter, so it still answers when Redis is
down.
"""

from __future__ import annotations

import hmac
import ipaddress
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core import metrics
from apps.core.client_address import client_address
from apps.core.service_health import service_health
from apps.users.decorators import login_required


def _bearer(request: HttpRequest) -> str:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        peer = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    for network in settings.AMAS_METRICS_ALLOWED_NETWORKS:
        try:
            if peer in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def operator_allowed(request: HttpRequest) -> bool:
    token = settings.AMAS_METRICS_TOKEN
    presented = _bearer(request)
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return True
    return _from_allowed_network(request)


def _api_token_user(request: HttpRequest) -> object | None:
    presented = _bearer(request)
    if not presented:
        return None
    from apps.users.services import token_authenticate

    token = token_authenticate(secret=presented, ip=client_address(request))
    return token.user if token is not None else None


def _denied() -> HttpResponse:
    response = JsonResponse(
        {"detail": "Operator token or allowed network required."}, status=HTTPStatus.UNAUTHORIZED
    )
    response["WWW-Authenticate"] = 'Bearer realm="amas-ops"'
    return response


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not operator_allowed(request):
        return _denied()
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


@never_cache
@require_GET
def service_health_json(request: HttpRequest) -> HttpResponse:
    if not operator_allowed(request) and _api_token_user(request) is None:
        return _denied()
    report = service_health()
    return JsonResponse(report, status=HTTPStatus.OK if report["ready"] else HTTPStatus.SERVICE_UNAVAILABLE)


@never_cache
@require_GET
@login_required
def service_health_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (user.is_staff or getattr(user, "is_org_admin", False)):
        raise PermissionDenied("Service health is for administrators.")
    report = service_health()
    return render(
        request,
        "core/service_health.html",
        {"report": report, "nav_active": "health"},
        status=HTTPStatus.OK if report["ready"] else HTTPStatus.SERVICE_UNAVAILABLE,
    )
