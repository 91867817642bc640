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
