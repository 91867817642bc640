"""Entities you can browse: a search with autocomplete (htmx fragment, server-rendered) and a page
per entity (what it is, when it was seen, the tasks and results that name it, its neighbours).
Everything is read through the knowledge graph's selectors, scoped to the user's organisation."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.core.exceptions import ApplicationError
from apps.dashboard.graph_layout import entity_url, graph_url, kind_class, layout, node_id
from apps.knowledge.graph import selectors as graph_selectors
from apps.knowledge.graph.port import EntityOut, Subgraph
from apps.tasks.selectors import task_visible
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest

SUGGESTIONS = 8
RESULTS = 50
MENTIONS = 50
NEIGHBOURS = 40


def _decorate(entities: list[EntityOut]) -> list[EntityOut]:
    for e in entities:
        e.url = entity_url(e.kind, e.value)  # type: ignore[attr-defined]
        e.graph_url = graph_url(e.kind, e.value)  # type: ignore[attr-defined]
        e.css = kind_class(e.kind)  # type: ignore[attr-defined]
    return entities


@login_required
@require_GET
def entity_search(request: AuthenticatedRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    kind = request.GET.get("kind", "").strip()
    found = (
        graph_selectors.graph_entity_search(user=request.user, prefix=q, kind=kind, limit=RESULTS)
        if q
        else []
    )
    context = {"q": q, "kind": kind, "entities": _decorate(found), "capped": len(found) >= RESULTS}
    return render(request, "dashboard/entities/search.html", context)


@login_required
@require_GET
def entity_suggest(request: AuthenticatedRequest) -> HttpResponse:
    """The autocomplete fragment: up to 8 entities whose value starts with what was typed. The
    graph page asks with `for=graph` (and its own `value`/`kind` fields) to get graph links."""
    q = (request.GET.get("q") or request.GET.get("value") or "").strip()
    kind = request.GET.get("kind", "").strip()
    for_graph = request.GET.get("for") == "graph"
    found = (
        graph_selectors.graph_entity_search(user=request.user, prefix=q, kind=kind, limit=SUGGESTIONS)
        if len(q) >= 2
        else []
    )
    context = {"q": q, "entities": _decorate(found), "for_graph": for_graph}
    return render(request, "dashboard/entities/search.html#suggestions", context)


@login_required
@require_GET
def entity_detail(request: AuthenticatedRequest) -> HttpResponse:
    kind = request.GET.get("kind", "").strip()
    value = request.GET.get("value", "").strip()
    try:
        entity = graph_selectors.graph_entity(user=request.user, kind=kind, value=value)
    except ApplicationError as exc:  # unknown here (404), kind or value missing (422)
        error: dict[str, Any] = {"error": exc.message, "kind": kind, "value": value}
        return render(request, "dashboard/entities/detail.html", error, status=exc.status)
    mentions = graph_selectors.graph_entity_mentions(
        user=request.user, kind=kind, value=value, limit=MENTIONS
    )
    neighbourhood = graph_selectors.graph_neighbourhood(
        user=request.user, kind=kind, value=value, depth=1, max_nodes=NEIGHBOURS + 1, max_edges=200
    )
    context: dict[str, Any] = {
        "entity": _decorate([entity])[0],
        "attributes": [(k.replace("_", " "), _plain(v)) for k, v in sorted(entity.attributes.items())],
        "mentions": _mention_rows(request.user, mentions),
        "mentions_capped": len(mentions) >= MENTIONS,
        "neighbours": _neighbour_rows(entity, neighbourhood),
        "picture": layout(neighbourhood, depth_param=1) if len(neighbourhood.nodes) > 1 else None,
        "truncated": neighbourhood.truncated,
    }
    return render(request, "dashboard/entities/detail.html", context)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _mention_rows(user: Any, mentions: list[Any]) -> list[dict[str, Any]]:
    """Mentions joined with the tasks the user may see, in one query."""
    ids = {m.task_id for m in mentions}
    tasks = {
        str(t.pk): t
        for t in task_visible(user=user).filter(pk__in=ids).only("id", "title", "status", "classification")
    }
    rows = []
    for m in mentions:
        task = tasks.get(m.task_id)
        if task is None:  # deleted since, or not the user's to see
            continue
        task_url = reverse("task_detail", args=[task.pk])
        rows.append(
            {
                "task": task,
                "task_url": task_url,
                "result_url": f"{task_url}#result-{m.result_id}" if m.result_id else None,
                "agent": m.agent,
                "model": m.model,
                "first_seen": m.first_seen,
                "last_seen": m.last_seen,
                "count": m.count,
            }
        )
    return rows


def other_key(entity: EntityOut) -> tuple[str, str]:
    return (entity.kind, entity.value)


def _neighbour_rows(entity: EntityOut, subgraph: Subgraph) -> list[dict[str, Any]]:
    """One row per relation touching the entity: the other end, the relation and its direction."""
    centre = node_id(entity)
    by_id = {node_id(n): n for n in subgraph.nodes}
    rows: list[dict[str, Any]] = []
    for edge in subgraph.edges:
        source = f"{edge.source.kind}:{edge.source.normalized}"
        target = f"{edge.target.kind}:{edge.target.normalized}"
        if centre not in (source, target):
            continue
        other = by_id.get(target if source == centre else source)
        if other is None:
            continue
        rows.append(
            {
                "entity": _decorate([other])[0],
                "type": edge.type.replace("_", " "),
                "outgoing": source == centre,
                "count": edge.count,
                "last_seen": edge.last_seen,
            }
        )
    rows.sort(key=lambda r: other_key(r["entity"]))
    return rows
