"""The knowledge graph: one GraphStore port (port.py), two backends (postgres.py, neo4j.py).

`get_graph_store()` returns the configured backend: AMAS_GRAPH_BACKEND, by default "neo4j" when
NEO4J_URL is set and "postgres" otherwise. Backends are registered by type in
KnowledgeConfig.ready(); `graph_store(type)` builds any of them (the copy command uses it)."""

from __future__ import annotations

import threading

from django.conf import settings

from apps.core.registry import Registry
from apps.knowledge.graph.port import EntityKey, GraphBatch, GraphError, GraphStore, Provenance

__all__ = [
    "EntityKey",
    "GraphBatch",
    "GraphError",
    "GraphStore",
    "Provenance",
    "graph_backends",
    "graph_store",
    "get_graph_store",
]

graph_backends: Registry[GraphStore] = Registry("graph backend")

_stores: dict[str, GraphStore] = {}
_lock = threading.Lock()


def _build(backend: str) -> GraphStore:
    store = graph_backends.get(backend).from_settings()
    store.setup()
    return store


def graph_store(backend: str) -> GraphStore:
    """The store of one backend, built and set up once per process (drivers pool connections)."""
    with _lock:
        store = _stores.get(backend)
        if store is None:
            store = _stores[backend] = _build(backend)
        return store


def get_graph_store() -> GraphStore:
    return graph_store(settings.AMAS_GRAPH_BACKEND)
