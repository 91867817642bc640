"""Agents' entities and relations into the graph, with their provenance."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.utils import timezone

from apps.agents.base import AgentResult, Entity, Relation
from apps.knowledge.graph import get_graph_store
from apps.knowledge.graph.port import GraphBatch, Provenance


def graph_batch_for_result(result: Any, agent_result: AgentResult) -> GraphBatch:
    """The batch one result contributes. The model is the LLM's when the agent says which one
    produced the facts (`model` in an entity's or relation's attributes, or on the result)."""
    return GraphBatch(
        provenance=Provenance(
            organization_id=result.task.organization_id,
            task_id=str(result.task_id),
            result_id=str(result.pk),
            agent=result.agent,
            model=str(getattr(agent_result, "model", "") or ""),
        ),
        seen_at=result.created_at or timezone.now(),
        entities=list(agent_result.entities),
        relations=list(agent_result.relations),
    )


def batch_to_payload(batch: GraphBatch) -> dict[str, Any]:
    """JSON for a Celery message (the Neo4j backend writes after commit, on a worker)."""
    return {
        "provenance": asdict(batch.provenance),
        "seen_at": batch.seen_at.isoformat(),
        "entities": [asdict(e) for e in batch.entities],
        "relations": [asdict(r) for r in batch.relations],
    }


def batch_from_payload(payload: dict[str, Any]) -> GraphBatch:
    from datetime import datetime

    return GraphBatch(
        provenance=Provenance(**payload["provenance"]),
        seen_at=datetime.fromisoformat(payload["seen_at"]),
        entities=[Entity(**e) for e in payload["entities"]],
        relations=[
            Relation(Entity(**r["source"]), r["type"], Entity(**r["target"]), r.get("attributes", {}))
            for r in payload["relations"]
        ],
    )


def graph_upsert(batch: GraphBatch) -> None:
    get_graph_store().upsert(batch)
