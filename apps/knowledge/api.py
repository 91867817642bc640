"""REST API of the knowledge app under /api/v1/: hybrid search, similar tasks, the graph."""

from __future__ import annotations

from http import HTTPStatus
from uuid import UUID

from django.http import HttpRequest
from django.urls import reverse
from ninja import Query, Router

from apps.core.api_errors import errors
from apps.core.exceptions import NotFound
from apps.knowledge import search as search_selectors
from apps.knowledge.downloads import artefact_download_response
from apps.knowledge.graph import selectors as graph_selectors
from apps.knowledge.graph import services as graph_services
from apps.knowledge.schemas import (
    ArtefactOut,
    EntityOut,
    MergeIn,
    MergeOut,
    SearchFilterIn,
    SearchOut,
    SimilarTaskOut,
    SubgraphOut,
)
from apps.knowledge.selectors import artefact_get_for_user, artefact_list_for_user
from apps.tasks.selectors import task_get
from apps.users.permissions import require_scope

router = Router(tags=["knowledge"])


def _filters(params: SearchFilterIn) -> search_selectors.SearchFilters:
    levels = tuple(p.strip() for p in (params.classification or "").split(",") if p.strip())
    return search_selectors.SearchFilters(
        task_type=params.task_type or None,
        agent=params.agent or None,
        date_from=params.date_from,
        date_to=params.date_to,
        classifications=levels,
    )


def hit_links(hit: search_selectors.SearchHit) -> dict[str, str | None]:
    task_url = reverse("task_detail", args=[hit.task_id])
    return {
        "task_url": task_url,
        "result_url": f"{task_url}#result-{hit.result_id}" if hit.result_id else None,
        "api_url": reverse("api:get_task", args=[hit.task_id]),
    }


@router.get("/search", response={HTTPStatus.OK: SearchOut, **errors(422)}, url_name="search")
def search(request: HttpRequest, params: Query[SearchFilterIn]):
    """Hybrid search (vector similarity fused with full-text rank) over the passages of tasks,
    results and text artefacts the caller may read."""
    user = require_scope(request, "tasks:read")
    found = search_selectors.search(user=user, query=params.q, k=params.k, filters=_filters(params))
    return {
        "query": found.query,
        "space": found.space,
        "notes": found.notes,
        "results": [{**hit.__dict__, **hit_links(hit)} for hit in found.hits],
    }


@router.get(
    "/tasks/{task_id}/similar",
    response={HTTPStatus.OK: list[SimilarTaskOut], **errors(404, 422)},
    url_name="similar_tasks",
)
def similar_tasks(request: HttpRequest, task_id: UUID, limit: int = 5):
    user = require_scope(request, "tasks:read")
    task = task_get(user=user, task_id=task_id)
    return [
        {
            "id": str(s.task.pk),
            "title": s.task.title,
            "task_type": s.task.task_type,
            "status": s.task.status,
            "created_at": s.task.created_at,
            "similarity": round(s.similarity, 4),
            "url": reverse("task_detail", args=[s.task.pk]),
        }
        for s in search_selectors.similar_tasks(user=user, task=task, limit=max(1, min(limit, 50)))
    ]


@router.get(
    "/tasks/{task_id}/entities",
    response={HTTPStatus.OK: list[EntityOut], **errors(404, 422)},
    url_name="task_entities",
)
def task_entities(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:read")
    task = task_get(user=user, task_id=task_id)
    return [e.as_dict() for e in graph_selectors.graph_task_entities(user=user, task=task)]


@router.get(
    "/graph/neighbourhood",
    response={HTTPStatus.OK: SubgraphOut, **errors(422)},
    url_name="graph_neighbourhood",
)
def graph_neighbourhood(
    request: HttpRequest, kind: str, value: str, depth: int = 1, max_nodes: int = 100, max_edges: int = 300
):
    """An entity and its neighbours to `depth` hops, as nodes and edges (the graph view's data)."""
    user = require_scope(request, "tasks:read")
    return graph_selectors.graph_neighbourhood(
        user=user, kind=kind, value=value, depth=depth, max_nodes=max_nodes, max_edges=max_edges
    ).as_dict()


@router.get("/graph/path", response={HTTPStatus.OK: SubgraphOut, **errors(404, 422)}, url_name="graph_path")
def graph_path(
    request: HttpRequest,
    source_kind: str,
    source_value: str,
    target_kind: str,
    target_value: str,
    max_depth: int = 4,
):
    """The shortest path between two entities; 404 when they are not connected within max_depth."""
    user = require_scope(request, "tasks:read")
    path = graph_selectors.graph_path(
        user=user, source=(source_kind, source_value), target=(target_kind, target_value), max_depth=max_depth
    )
    if path is None:
        raise NotFound(f"No path within {max_depth} hops.")
    return path.as_dict()


@router.get(
    "/graph/entities", response={HTTPStatus.OK: list[EntityOut], **errors(422)}, url_name="graph_entities"
)
def graph_entities(request: HttpRequest, prefix: str, kind: str | None = None, limit: int = 20):
    """Entities whose value starts with `prefix` (for autocompletion)."""
    user = require_scope(request, "tasks:read")
    return [
        e.as_dict()
        for e in graph_selectors.graph_entity_search(user=user, prefix=prefix, kind=kind, limit=limit)
    ]


@router.post(
    "/graph/merge", response={HTTPStatus.OK: MergeOut, **errors(404, body=True)}, url_name="graph_merge"
)
def graph_merge(request: HttpRequest, payload: MergeIn):
    """Fold a duplicate entity into another (superusers only: entities are shared)."""
    user = require_scope(request, "admin")
    keep = graph_services.graph_merge(
        user=user,
        keep=(payload.keep.kind, payload.keep.value),
        duplicate=(payload.duplicate.kind, payload.duplicate.value),
    )
    return {"merged_into": f"{keep.kind}:{keep.normalized}"}


@router.get(
    "/tasks/{task_id}/artefacts",
    response={HTTPStatus.OK: list[ArtefactOut], **errors(404, 422)},
    url_name="list_task_artefacts",
)
def list_task_artefacts(request: HttpRequest, task_id: UUID):
    """Files attached to a task or written by its agents."""
    user = require_scope(request, "tasks:read")
    task = task_get(user=user, task_id=task_id)
    return [
        {
            "id": str(a.pk),
            "name": a.original_name,
            "size": a.size,
            "sha256": a.sha256,
            "detected_type": a.detected_type,
            "produced_by_agent": a.produced_by_agent,
            "created_at": a.created_at,
            "download_url": reverse("api:download_artefact", args=[a.pk]),
        }
        for a in artefact_list_for_user(user=user).filter(task=task)
    ]


@router.get(
    "/artefacts/{artefact_id}/download",
    response={HTTPStatus.OK: None, HTTPStatus.FOUND: None, **errors(404, 422)},
    url_name="download_artefact",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an opaque attachment.",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            302: {"description": "On S3: a short-lived presigned URL (Location)."},
        }
    },
)
def download_artefact(request: HttpRequest, artefact_id: UUID):
    """The bytes of an artefact of your organisation (the same check as the web download)."""
    user = require_scope(request, "tasks:read")
    return artefact_download_response(artefact_get_for_user(user=user, artefact_id=artefact_id))
