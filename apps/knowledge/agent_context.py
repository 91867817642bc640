"""`ctx.storage` and `ctx.graph`: what an agent sees of the knowledge app, bound to its task and
step, so agents neither import knowledge nor query Artefact rows themselves. Registered as an agent
context contributor in KnowledgeConfig.ready() (as providers registers `ctx.ai`)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile

from apps.knowledge.graph import get_graph_store
from apps.knowledge.graph.port import EntityKey, EntityOut, Subgraph, UnknownEntity
from apps.knowledge.models import Artefact
from apps.knowledge.services import artefact_create, artefact_delete_produced_by_step, artefact_read

if TYPE_CHECKING:
    from apps.agents.base import AgentContext


class AgentStorage:
    """The task's input files and the artefacts the running step writes."""

    def __init__(self, *, task: Any, step: Any, agent: str) -> None:
        self.task = task
        self.step = step
        self.agent = agent

    def inputs(self) -> list[Artefact]:
        """The files a user attached to the task (not what agents wrote), oldest first."""
        return list(self.task.artefacts.filter(produced_by_agent="").order_by("created_at"))

    def read(self, artefact: Artefact, *, limit: int | None = None) -> bytes:
        return artefact_read(artefact, limit=limit)

    def write(self, name: str, content: bytes) -> Artefact:
        """Store an output of this step, attributed to the agent."""
        return artefact_create(
            task=self.task, file=ContentFile(content, name=name), step=self.step, produced_by_agent=self.agent
        )

    def clear_step_outputs(self) -> int:
        """Delete what an earlier attempt of this same step wrote, so a re-delivered step replaces
        its artefacts instead of doubling them."""
        return artefact_delete_produced_by_step(step=self.step)

    def produced(self, artefact_id: uuid.UUID | str) -> Artefact | None:
        """An artefact this agent type wrote for any task of the task's organization (a trained
        model reused by a later task), or None."""
        return Artefact.objects.filter(
            id=artefact_id, organization_id=self.task.organization_id, produced_by_agent=self.agent
        ).first()

    def earlier_uploads(self, *, sha256: str, limit: int = 20) -> list[Artefact]:
        """Uploads with this SHA-256 in other tasks of the organization, oldest first."""
        return list(
            Artefact.objects.filter(
                organization_id=self.task.organization_id, produced_by_agent="", sha256=sha256
            )
            .exclude(task=self.task)
            .order_by("created_at")[:limit]
        )


class AgentGraph:
    """Reads of the knowledge graph, scoped to the task's organization. The store is looked up on
    first use: most agents never touch the graph, and a Neo4j store opens a driver."""

    def __init__(self, *, organization_id: int) -> None:
        self.organization_id = organization_id

    def get(self, kind: str, value: str) -> EntityOut | None:
        return get_graph_store().get(EntityKey.of(kind, value), organization_id=self.organization_id)

    def neighbourhood(
        self, kind: str, value: str, *, depth: int = 1, max_nodes: int = 100
    ) -> Subgraph | None:
        key = EntityKey.of(kind, value)
        try:
            return get_graph_store().neighbourhood(
                key, organization_id=self.organization_id, depth=depth, max_nodes=max_nodes
            )
        except UnknownEntity:
            return None

    def search(self, prefix: str, *, kind: str | None = None, limit: int = 20) -> list[EntityOut]:
        return get_graph_store().search(prefix, organization_id=self.organization_id, kind=kind, limit=limit)


def contribute_storage(ctx: AgentContext) -> None:
    ctx.storage = AgentStorage(task=ctx.task, step=ctx.step, agent=ctx.step.agent_type)
    ctx.graph = AgentGraph(organization_id=int(ctx.task.organization_id))
