"""What the knowledge app does when the pipeline writes: registered in KnowledgeConfig.ready()
with apps.tasks.hooks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from apps.knowledge.graph import get_graph_store
from apps.knowledge.graph.ingest import batch_to_payload, graph_batch_for_result
from apps.knowledge.index_queue import index_later


def on_result_written(result: Any, agent_result: Any) -> None:
    """Runs inside the transaction that writes the Result. Entities and relations go into the
    graph (Postgres: in this transaction, so they commit with the result; Neo4j: on a worker after
    commit); indexing and embedding go to a worker after commit."""
    from apps.knowledge.tasks import graph_upsert_task, index_result_task

    if result.status != "completed":
        return
    if agent_result.entities or agent_result.relations:
        batch = graph_batch_for_result(result, agent_result)
        store = get_graph_store()
        if store.transactional:
            store.upsert(batch)
        else:
            payload = batch_to_payload(batch)
            transaction.on_commit(
                lambda: graph_upsert_task.apply_async(args=[payload], queue=settings.AMAS_KNOWLEDGE_QUEUE)
            )
    result_id = str(result.pk)
    transaction.on_commit(
        lambda: index_later(
            f"result:{result_id}",
            fallback=lambda: index_result_task.apply_async(
                args=[result_id], queue=settings.AMAS_KNOWLEDGE_QUEUE
            ),
        )
    )


def on_task_event(event: Any) -> None:
    """Called after commit for every task event: a new task's description (and the files
    attached to it) becomes searchable, and so "similar tasks" works before any result."""
    from apps.knowledge.tasks import index_task_task

    if event.type == "task.created":
        task_id = str(event.task_id)
        index_later(
            f"task:{task_id}",
            fallback=lambda: index_task_task.apply_async(args=[task_id], queue=settings.AMAS_KNOWLEDGE_QUEUE),
        )
