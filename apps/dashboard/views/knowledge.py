"""The knowledge pages: search, the graph view, and the similar-tasks fragment that a task page
loads with htmx (`hx-get="{% url 'similar_tasks_partial' task.pk %}" hx-trigger="load"`)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from http import HTTPStatus

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.core.exceptions import ApplicationError, NotFound
from apps.core.vocabulary import Classification, task_types
from apps.dashboard import context as pages
from apps.dashboard.graph_layout import entity_url, layout
from apps.dashboard.presenters import search_hit_links
from apps.dashboard.search_groups import group_by_task
from apps.knowledge import search as search_selectors
from apps.knowledge.graph import selectors as graph_selectors
from apps.knowledge.graph.port import MAX_DEPTH
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest

SEARCH_HITS = 200  # passages ranked per query; grouped by task and paged below
TASKS_PER_PAGE = 10


def _date(value: str, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


@login_required
@require_GET
def search_page(request: AuthenticatedRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    levels = tuple(v for v in request.GET.getlist("classification") if v in Classification.values)
    filters = search_selectors.SearchFilters(
        task_type=request.GET.get("task_type") or None,
        agent=request.GET.get("agent", "").strip() or None,
        date_from=_date(request.GET.get("date_from", "")),
        date_to=_date(request.GET.get("date_to", ""), end=True),
        classifications=levels,
    )
    hits, notes, error = [], [], ""
    if q:
        try:
            found = search_selectors.search(user=request.user, query=q, k=SEARCH_HITS, filters=filters)
        except ApplicationError as exc:
            error = exc.message
        else:
            hits = [{**hit.__dict__, **search_hit_links(hit)} for hit in found.hits]
            notes = found.notes
    groups = group_by_task(hits)
    page = Paginator(groups, TASKS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "q": q,
        "hits": hits,
        "page": page,
        "query": query.urlencode(),
        "capped": len(hits) >= SEARCH_HITS,
        "notes": notes,
        "error": error,
        "filters": filters,
        "task_types": task_types.choices(),
        "classifications": Classification.choices,
        "selected_levels": levels,
        "date_from": request.GET.get("date_from", ""),
        "date_to": request.GET.get("date_to", ""),
    }
    template = "dashboard/knowledge/search.html"
    return render(request, f"{template}#results" if request.htmx else template, context)


@login_required
@require_GET
def graph_page(request: AuthenticatedRequest) -> HttpResponse:
    """An entity's neighbourhood drawn on the server as SVG (apps/dashboard/graph_layout.py), with
    the relations as a table; every node links to its entity page."""
    try:
        depth = max(0, min(int(request.GET.get("depth", 1)), MAX_DEPTH))
    except ValueError:
        depth = 1
    kind = request.GET.get("kind", "").strip()
    value = request.GET.get("value", "").strip()
    context: dict = {"kind": kind, "value": value, "depth": depth, "depths": range(0, MAX_DEPTH + 1)}
    status = HTTPStatus.OK
    if kind or value:
        try:
            subgraph = graph_selectors.graph_neighbourhood(
                user=request.user, kind=kind, value=value, depth=depth, max_nodes=150, max_edges=400
            )
        except ApplicationError as exc:  # unknown entity (404), missing kind or value (422)
            context["error"], status = exc.message, exc.status
        else:
            context["picture"] = layout(subgraph, depth_param=depth)
            context["centre_url"] = entity_url(kind, value)
    return render(request, "dashboard/knowledge/graph.html", context, status=status)


@login_required
@require_GET
def similar_tasks_partial(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    try:
        context = pages.similar_tasks_context(user=request.user, task_id=task_id)
    except NotFound:
        raise Http404("Task not found.") from None
    return render(request, "dashboard/knowledge/_similar_tasks.html", context)
