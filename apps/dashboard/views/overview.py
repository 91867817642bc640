"""The overview, the live monitor, and the agents and providers pages."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.dashboard import context as pages
from apps.dashboard import presenters
from apps.dashboard.rendering import requested_section, section_template
from apps.tasks import page_selectors as board
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest

OVERVIEW_SECTIONS = frozenset({pages.OVERVIEW_STATUS, pages.OVERVIEW_HEALTH})


@login_required
@require_GET
def home(request: AuthenticatedRequest) -> HttpResponse:
    section = requested_section(request, OVERVIEW_SECTIONS)
    sections = frozenset({section}) if section else OVERVIEW_SECTIONS
    context = pages.overview_context(user=request.user, sections=sections)
    return render(request, section_template("dashboard/overview.html", section), context)


@login_required
@require_GET
def monitor(request: AuthenticatedRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in ("task", "step") else ""
    text = request.GET.get("text", "").strip()[:100]
    events = board.org_events(user=request.user, limit=100, kind=kind, text=text)
    context = {"events": presenters.event_rows(events, with_title=True), "kind": kind, "text": text}
    return render(request, "dashboard/monitor.html", context)


@login_required
@require_GET
def agent_list(request: AuthenticatedRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=30)
    return render(
        request, "dashboard/agents.html", {"agents": pages.agent_rows(user=request.user, since=since)}
    )


@login_required
@require_GET
def provider_list(request: AuthenticatedRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/providers.html",
        {
            "providers": pages.provider_rows(user=request.user),
            "admin_add_url": reverse("admin:providers_provider_add"),
        },
    )
