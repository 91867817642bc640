"""Writes to the knowledge graph made by people (agents write through the result hook)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.exceptions import NotFound, PermissionDenied, ValidationFailed
from apps.knowledge.graph import get_graph_store
from apps.knowledge.graph.port import EntityKey, GraphError, UnknownEntity


def graph_merge(*, user: Any, keep: tuple[str, str], duplicate: tuple[str, str]) -> EntityKey:
    """Fold a duplicate entity into another one. Entities are shared by every organisation, so
    only a superuser may merge them; the merge is audited."""
    from apps.audit.services import audit_record

    if not user.is_superuser:
        raise PermissionDenied("Only a superuser may merge entities (they are shared by every organisation).")
    keep_key, dup_key = EntityKey.of(*keep), EntityKey.of(*duplicate)
    with transaction.atomic():
        try:
            get_graph_store().merge(keep_key, dup_key)
        except UnknownEntity as exc:
            raise NotFound(str(exc)) from None
        except GraphError as exc:
            raise ValidationFailed(str(exc)) from None
        audit_record(
            event_type="graph.entity_merged",
            entity_type="graph_entity",
            entity_id=f"{keep_key.kind}:{keep_key.normalized}",
            actor=user,
            changes={"duplicate": f"{dup_key.kind}:{dup_key.normalized}"},
        )
    return keep_key


IMPORTED_AGENT = "imported"


def graph_record_imported(
    *, organization_id: int, source_id: str, entities: list[tuple[str, str, dict[str, Any]]]
) -> int:
    """Observables imported from outside (a STIX bundle into an investigation) join the graph with
    provenance "imported": agent "imported", no result, and `source_id` (the investigation) where
    a task's id goes, so the organisation's graph reads, search and neighbourhoods see them.
    Idempotent like every graph write; Neo4j writes on a worker after commit. Returns how many
    entities were sent."""
    from django.conf import settings
    from django.utils import timezone

    from apps.agents.base import Entity
    from apps.knowledge.graph.ingest import batch_to_payload
    from apps.knowledge.graph.port import GraphBatch
    from apps.knowledge.graph.port import Provenance as GraphProvenance

    batch = GraphBatch(
        provenance=GraphProvenance(organization_id=organization_id, task_id=source_id, agent=IMPORTED_AGENT),
        seen_at=timezone.now(),
        entities=[
            Entity(kind=kind, value=value, attributes={**attributes, "provenance": "imported"})
            for kind, value, attributes in entities
            if value.strip()
        ],
    )
    if not batch.entities:
        return 0
    store = get_graph_store()
    if store.transactional:
        store.upsert(batch)
    else:
        from apps.knowledge.tasks import graph_upsert_task

        payload = batch_to_payload(batch)
        transaction.on_commit(
            lambda: graph_upsert_task.apply_async(args=[payload], queue=settings.AMAS_KNOWLEDGE_QUEUE)
        )
    return len(batch.entities)
