"""Celery tasks of the knowledge app: thin wrappers that load by id and call one service."""

from __future__ import annotations

from typing import Any

import redis
from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.knowledge import index_queue, indexing
from apps.knowledge.graph.ingest import batch_from_payload, graph_upsert


# ignore_result: nobody waits for these; storing a result costs the worker a Redis write and
# publish, and the sender a result-channel subscription, per message.
@shared_task(
    name="knowledge.index_result",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=300,
    time_limit=360,
)
def index_result_task(result_id: str) -> int:
    return indexing.result_index_and_embed(result_id=result_id)


@shared_task(
    name="knowledge.index_task",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=300,
    time_limit=360,
)
def index_task_task(task_id: str) -> int:
    return indexing.task_index(task_id=task_id)


@shared_task(
    name="knowledge.index_pending",
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,  # re-delivered with the same id: the re-run finds what it took
    autoretry_for=(OperationalError, InterfaceError, redis.RedisError, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=None,
    soft_time_limit=300,
    time_limit=360,
)
def index_pending_task(self) -> int:
    return index_queue.drain(self.request.id or "")


# Beat (CELERY_BEAT_SCHEDULE "index-sweep"): a lost drain message delays sources by at most
# the SCHEDULED expiry plus one sweep interval. Two Redis round trips when nothing waits.
@shared_task(name="knowledge.index_sweep", ignore_result=True, soft_time_limit=30, time_limit=60)
def index_sweep_task() -> bool:
    return index_queue.sweep()


@shared_task(
    name="knowledge.graph_upsert",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=8,
    soft_time_limit=120,
    time_limit=180,
)
def graph_upsert_task(payload: dict[str, Any]) -> None:
    graph_upsert(batch_from_payload(payload))
