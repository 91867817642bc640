"""Reads of the knowledge graph for a user: always scoped to the user's organisation."""

from __future__ import annotations

from typing import Any

from apps.core.exceptions import NotFound, ValidationFailed
from apps.knowledge.graph import get_graph_store
from apps.knowledge.graph.port import (
    MAX_DEPTH,
    MAX_PATH_DEPTH,
    EntityKey,
    EntityOut,
    GraphError,
    ProvenanceOut,
    Subgraph,
    UnknownEntity,
)


def _organization_id(user: Any) -> int:
    if not user.is_authenticated or user.organization_id is None:
        raise NotFound("No such entity.")
    return int(user.organization_id)


def _key(kind: str, value: str) -> EntityKey:
    if not kind.strip() or not value.strip():
        raise ValidationFailed("An entity needs a kind and a value.")
    return EntityKey.of(kind, value)


def graph_neighbourhood(
    *, user: Any, kind: str, value: str, depth: int = 1, max_nodes: int = 100, max_edges: int = 300
) -> Subgraph:
    if not 0 <= depth <= MAX_DEPTH:
        raise ValidationFailed(f"depth must be between 0 and {MAX_DEPTH}.")
    try:
        return get_graph_store().neighbourhood(
            _key(kind, value),
            organization_id=_organization_id(user),
            depth=depth,
            max_nodes=max(1, min(max_nodes, 500)),
            max_edges=max(1, min(max_edges, 2000)),
        )
    except UnknownEntity as exc:
        raise NotFound(str(exc)) from None


def graph_path(
    *, user: Any, source: tuple[str, str], target: tuple[str, str], max_depth: int = 4
) -> Subgraph | None:
    if not 1 <= max_depth <= MAX_PATH_DEPTH:
        raise ValidationFailed(f"max_depth must be between 1 and {MAX_PATH_DEPTH}.")
    try:
        return get_graph_store().shortest_path(
            _key(*source), _key(*target), organization_id=_organization_id(user), max_depth=max_depth
        )
    except UnknownEntity as exc:
        raise NotFound(str(exc)) from None
    except GraphError as exc:
        raise ValidationFailed(str(exc)) from None


def graph_entity_search(
    *, user: Any, prefix: str, kind: str | None = None, limit: int = 20
) -> list[EntityOut]:
    if not user.is_authenticated or user.organization_id is None:
        return []
    return get_graph_store().search(
        prefix, organization_id=int(user.organization_id), kind=kind or None, limit=max(1, min(limit, 100))
    )


def graph_task_entities(*, user: Any, task: Any) -> list[EntityOut]:
    """Entities of a task the caller already may read (see apps.tasks.selectors.task_get)."""
    return get_graph_store().task_entities(str(task.pk), organization_id=int(task.organization_id))


def graph_entity(*, user: Any, kind: str, value: str) -> EntityOut:
    """One entity as the user's organisation knows it; unknown (or only known to others) is
    NotFound, so a value never tells whether another organisation has seen it."""
    entity = get_graph_store().get(_key(kind, value), organization_id=_organization_id(user))
    if entity is None:
        raise NotFound(f"No entity {kind.strip().lower()}:{value.strip()} in your organisation's graph.")
    return entity


def graph_entity_mentions(*, user: Any, kind: str, value: str, limit: int = 50) -> list[ProvenanceOut]:
    """The organisation's (task, result) records naming the entity, latest first."""
    return get_graph_store().mentions(
        _key(kind, value), organization_id=_organization_id(user), limit=max(1, min(limit, 200))
    )
