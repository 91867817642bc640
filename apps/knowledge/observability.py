"""Index queue metrics for /metrics. The counter is defined here with core's API; the gauge is
read at scrape time and registered with core in KnowledgeConfig.ready()."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from apps.core import metrics

INDEX_DEAD_LETTERED = metrics.counter(
    "amas_index_dead_lettered_total",
    "Index sources given up on after AMAS_INDEX_MAX_ATTEMPTS failed attempts (dead-lettered).",
)


def index_queue_gauges() -> Iterable[Metric]:
    """Sources dead-lettered now (an operator re-queues them: manage.py index_dead) and sources
    waiting for the sweep to retry them."""
    from apps.core.redis import redis_client
    from apps.knowledge.index_queue import DEAD, RETRY

    pipe = redis_client(timeout=1.0).pipeline(transaction=False)
    pipe.hlen(DEAD)
    pipe.zcard(RETRY)
    dead, retrying = pipe.execute()
    yield GaugeMetricFamily(
        "amas_index_dead_letters",
        "Index sources dead-lettered and not re-queued yet (manage.py index_dead --list).",
        value=dead,
    )
    yield GaugeMetricFamily(
        "amas_index_retries_waiting",
        "Index sources that failed and wait for the sweep to retry them.",
        value=retrying,
    )


def register() -> None:
    metrics.register_gauge_source(index_queue_gauges)
