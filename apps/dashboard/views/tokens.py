"""The API tokens page: list, create (the secret is shown once, on the response page), revoke."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import ApplicationError
from apps.users import selectors, services
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest
from apps.users.models import TokenScope
from apps.users.permissions import user_scopes
from apps.users.trust import StepUpRequired, require_trust


def _page(
    request: AuthenticatedRequest, *, issued: services.IssuedToken | None = None, status: int = 200
) -> HttpResponse:
    allowed = user_scopes(request.user)
    return render(
        request,
        "dashboard/account/tokens.html",
        {
            "tokens": selectors.token_list(user=request.user),
            "scopes": [(s.value, s.label) for s in TokenScope if s.value in allowed],
            "issued": issued,
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    try:
        require_trust(request, next_url=reverse("api_tokens"))
    except StepUpRequired as exc:
        return HttpResponseRedirect(exc.step_up_url)
    try:
        days = int(request.POST.get("expires_in_days") or 0) or None
        issued = services.token_create(
            user=request.user,
            name=request.POST.get("name", ""),
            scopes=request.POST.getlist("scopes"),
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            request=request,
        )
    except (ApplicationError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "Expiry must be a number of days."))
        return _page(request, status=400)
    return _page(request, issued=issued)


@login_required
@require_POST
def api_token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    try:
        token = selectors.token_get(user=request.user, token_id=token_id)
        services.token_revoke(token=token, by=request.user, request=request)
        messages.success(request, f"Revoked {token.name} ({token.prefix}).")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(reverse("api_tokens"))
