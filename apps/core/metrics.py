"""Prometheus metrics for every AMAS process, aggregated in Redis.

Why Redis and not prometheus_client's multiprocess mode: AMAS runs several web and worker
processes, usually on several machines. Multiprocess mode shares memory-mapped files in one
directory, so it only sums the processes of one machine, and Celery workers serve no HTTP that
Prometheus could scrape. Here every process adds its increments to Redis hashes (HINCRBYFLOAT is
atomic), and `/metrics` on any web process renders the totals of all of them. Values that
describe the present (queue depth, agent utilisation, open websockets, breaker state) are read at
scrape time from Redis and Postgres instead of being counted.

Counters live as long as Redis keeps them: Redis restarted without persistence resets them, which
Prometheus handles like a process restart (rate() sees a counter reset). Metrics never fail the
work they count: an increment `record` cannot send (Redis restarting, or slower than the 1 s
timeout under load) goes into this process's buffer below and is sent by its next flush, so a
blip delays a count instead of losing it.

Per-request counters (the API middleware's 14 increments a request) are buffered instead
(`record_later`): summed per series in this process and sent by a background thread every
AMAS_METRICS_FLUSH_SECONDS in one MULTI/EXEC, so a request pays a few dict updates, not a Redis
round trip. A scrape sends its own process's buffer first; other processes' counts show up at
most one flush interval late. A failed send keeps the sums for the next one (a buffer holds one
number per series, so it cannot grow with time), and a clean exit (SIGTERM, SIGINT) sends what is
left (atexit). A process killed with SIGKILL loses what it counted since its last flush: at most
AMAS_METRICS_FLUSH_SECONDS of that process's API requests.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from apps.core.redis import redis_client as shared_redis_client

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
REMOTE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def redis_client() -> redis.Redis:
    return shared_redis_client(settings.AMAS_METRICS_REDIS_URL or settings.REDIS_URL, timeout=1.0)


def _key(name: str) -> str:
    return f"{settings.AMAS_METRICS_PREFIX}:{name}"


_fields: dict[tuple, str] = {}


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: str  # "counter" | "histogram"
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def _field(self, labels: dict[str, Any]) -> str:
        # Memoised for string labels (1 and True would share a key): the API middleware asks for
        # the same few label sets on every request.
        if not all(type(value) is str for value in labels.values()):
            return self._encode(labels)
        memo_key = (self.name, *labels.items())
        field = _fields.get(memo_key)
        if field is not None:
            return field
        field = self._encode(labels)
        if len(_fields) < 10_000:
            _fields[memo_key] = field
        return field

    def _encode(self, labels: dict[str, Any]) -> str:
        missing = set(self.labels) - set(labels)
        extra = set(labels) - set(self.labels)
        if missing or extra:
            raise ValueError(f"{self.name}: labels {sorted(self.labels)} expected, got {sorted(labels)}")
        return json.dumps([str(labels[name]) for name in self.labels], separators=(",", ":"))

    def increments(self, amount: float = 1.0, **labels: Any) -> list[tuple[str, str, float]]:
        """The Redis increments of a counter's inc(), to batch several with `record`."""
        assert self.kind == "counter"
        return [(_key(self.name), self._field(labels), float(amount))]

    def observations(self, value: float, **labels: Any) -> list[tuple[str, str, float]]:
        """The Redis increments of a histogram's observe(), to batch several with `record`."""
        assert self.kind == "histogram"
        base = self._field(labels)
        index = next((i for i, le in enumerate(self.buckets) if value <= le), len(self.buckets))
        key = _key(self.name)
        return [
            (key, f"{base}|b{index}", 1.0),
            (key, f"{base}|sum", float(value)),
            (key, f"{base}|count", 1.0),
        ]

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        _write(self.increments(amount, **labels))

    def observe(self, value: float, **labels: Any) -> None:
        _write(self.observations(value, **labels))


def record(*batches: list[tuple[str, str, float]]) -> None:
    """Several increments in one Redis round trip."""
    _write([item for batch in batches for item in batch])


def _write(increments: list[tuple[str, str, float]]) -> None:
    try:
        # MULTI/EXEC as in flush(): all or nothing, so keeping the increments after a failure
        # does not count any of them twice.
        pipe = redis_client().pipeline(transaction=True)
        for key, name, amount in increments:
            pipe.hincrbyfloat(key, name, amount)
        pipe.execute()
    except redis.RedisError as exc:
        record_later(increments)
        log.debug("metrics kept for the next flush, Redis unreachable: %s", exc)


# --- the per-process buffer of record_later ------------------------------------------------------

_buffer: dict[tuple[str, str], float] = {}
_buffer_lock = threading.Lock()  # record_later from every request thread, flush from the flusher
_flush_lock = threading.Lock()  # one send at a time; reset() waits for a send in flight
_flusher_pid = 0  # the process whose flusher thread runs (a forked child starts its own)


def record_later(*batches: list[tuple[str, str, float]]) -> None:
    """`record` without the round trip: added to this process's buffer, which a background thread
    sends every AMAS_METRICS_FLUSH_SECONDS (see the module docstring for what that may lose)."""
    if _flusher_pid != os.getpid():
        _flusher_start()
    with _buffer_lock:
        for batch in batches:
            for key, name, amount in batch:
                _buffer[key, name] = _buffer.get((key, name), 0.0) + amount


def flush() -> None:
    """Send this process's buffered increments now (the flusher, a scrape, exit). On failure the
    sums go back into the buffer for the next flush."""
    with _flush_lock:
        with _buffer_lock:
            if not _buffer:
                return
            pending = dict(_buffer)
            _buffer.clear()
        try:
            # MULTI/EXEC: all or nothing, so keeping the sums after a failure does not count twice.
            pipe = redis_client().pipeline(transaction=True)
            for (key, name), amount in pending.items():
                pipe.hincrbyfloat(key, name, amount)
            pipe.execute()
        except redis.RedisError as exc:
            with _buffer_lock:
                for series, amount in pending.items():
                    _buffer[series] = _buffer.get(series, 0.0) + amount
            log.debug("metrics kept for the next flush, Redis unreachable: %s", exc)


def _flusher_run() -> None:
    interval = float(getattr(settings, "AMAS_METRICS_FLUSH_SECONDS", 1.0))
    while True:
        time.sleep(interval)
        try:
            flush()
        except Exception:  # never let the thread die: the next interval tries again
            log.exception("metrics flush failed")


def _flusher_start() -> None:
    global _flusher_pid
    with _buffer_lock:
        if _flusher_pid == os.getpid():
            return
        if _flusher_pid:  # forked from a process that buffered: its counts are the parent's to send
            _buffer.clear()
        _flusher_pid = os.getpid()
    threading.Thread(target=_flusher_run, name="amas-metrics-flush", daemon=True).start()


atexit.register(flush)


_metrics: dict[str, MetricDef] = {}


def counter(name: str, help: str, labels: Iterable[str] = ()) -> MetricDef:
    return _define(MetricDef(name, "counter", help, tuple(labels)))


def histogram(
    name: str, help: str, labels: Iterable[str] = (), buckets: Iterable[float] = LATENCY_BUCKETS
) -> MetricDef:
    return _define(MetricDef(name, "histogram", help, tuple(labels), tuple(sorted(buckets))))


def _define(metric: MetricDef) -> MetricDef:
    existing = _metrics.get(metric.name)
    if existing is not None and existing != metric:
        raise ValueError(f"Metric {metric.name} is already defined differently.")
    _metrics[metric.name] = metric
    return metric


# --- the metrics AMAS records -----------------------------------------------------------------
# Defined here, in one catalogue that alert rules and dashboards are written against; recorded by
# the apps they describe (apps/<app>/observability.py, connected in each AppConfig.ready()).

TASKS_CREATED = counter("amas_tasks_created_total", "Tasks created.", ["task_type"])
TASKS_COMPLETED = counter(
    "amas_tasks_completed_total", "Tasks that reached a terminal state, by that state.", ["status"]
)
TASK_DURATION = histogram(
    "amas_task_duration_seconds", "From start to terminal state.", ["status"], TASK_BUCKETS
)
STEPS_FINISHED = counter(
    "amas_steps_total", "Agent steps that ended, by agent and state.", ["agent", "status"]
)
STEPS_RETRIED = counter(
    "amas_step_retries_total", "Agent steps queued again after a retryable error.", ["agent"]
)
STEP_DURATION = histogram(
    "amas_step_duration_seconds", "Agent step run time (completed or failed).", ["agent"], TASK_BUCKETS
)
API_REQUESTS = counter("amas_api_requests_total", "REST API requests.", ["method", "route", "status"])
API_LATENCY = histogram("amas_api_latency_seconds", "REST API response time.", ["method", "route"])
API_ERRORS = counter(
    "amas_api_errors_total",
    "REST API responses with 4xx (kind=client) or 5xx (kind=server).",
    ["method", "route", "kind"],
)
PROVIDER_CALLS = counter(
    "amas_ai_provider_calls_total",
    "AI provider router calls (ledger rows) by outcome.",
    ["provider", "status"],
)
PROVIDER_LATENCY = histogram(
    "amas_ai_provider_latency_seconds", "AI provider call latency.", ["provider"], REMOTE_BUCKETS
)
PROVIDER_ERRORS = counter("amas_ai_provider_errors_total", "AI provider calls that failed.", ["provider"])
PROVIDER_FALLBACKS = counter(
    "amas_ai_provider_fallbacks_total",
    "Calls answered by another provider than the first tried.",
    ["provider"],
)
PROVIDER_COST = counter("amas_ai_provider_cost_usd_total", "Spend on AI providers in USD.", ["provider"])
PROVIDER_TOKENS = counter(
    "amas_ai_provider_tokens_total", "Tokens sent and received.", ["provider", "direction"]
)
WEBHOOK_DELIVERIES = counter(
    "amas_webhook_deliveries_total", "Webhook delivery attempts by outcome.", ["outcome"]
)
WEBHOOK_LATENCY = histogram(
    "amas_webhook_delivery_latency_seconds", "Webhook attempt latency.", (), REMOTE_BUCKETS
)
WEBHOOK_DISABLED = counter(
    "amas_webhook_endpoints_disabled_total", "Endpoints disabled automatically, by reason.", ["reason"]
)
WORKER_TASKS = counter(
    "amas_worker_tasks_total", "Celery tasks run by workers, by task and state.", ["task", "state"]
)
WORKER_TASK_SECONDS = histogram("amas_worker_task_seconds", "Celery task run time.", ["task"], TASK_BUCKETS)


# --- gauges computed at scrape time ------------------------------------------------------------

GaugeSource = Callable[[], Iterable[Metric]]
_gauge_sources: list[GaugeSource] = []


def register_gauge_source(source: GaugeSource) -> GaugeSource:
    """Add a function that yields gauge families when /metrics is scraped (current state only).
    Apps register theirs in AppConfig.ready(): core cannot know what the apps above it hold."""
    if source not in _gauge_sources:
        _gauge_sources.append(source)
    return source


def queue_depth() -> Iterable[Metric]:
    """Messages waiting in each Celery queue. kombu's Redis transport emulates priorities with one
    list per priority step ("<queue>", "<queue><sep><n>")."""
    family = GaugeMetricFamily("amas_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    sep = options.get("sep", "\x06\x16")
    steps = [s for s in options.get("priority_steps", [0]) if s]
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in settings.AMAS_QUEUES:
            for name in [queue, *(f"{queue}{sep}{step}" for step in steps)]:
                pipe.llen(name)
        lengths = iter(pipe.execute())
        for queue in settings.AMAS_QUEUES:
            family.add_metric([queue], sum(next(lengths) for _ in range(1 + len(steps))))
    finally:
        client.close()
    yield family


# Open websocket connections: each process keeps its own count in a key that expires unless the
# process refreshes it, so a process that dies does not leave its connections counted forever.
_CONNECTIONS_TTL = 90
_local_connections = 0


def _connections_key() -> str:
    import socket

    return f"{settings.AMAS_METRICS_PREFIX}:connections:{socket.gethostname()}:{os.getpid()}"


_connections_lock = threading.Lock()


def connections_changed(delta: int) -> None:
    """Connections open and close in worker threads at the same time: the count and its SET go
    under one lock, else an older count's SET could land last (two opened, 1 stored)."""
    global _local_connections
    with _connections_lock:
        _local_connections = max(0, _local_connections + delta)
        try:
            redis_client().set(_connections_key(), _local_connections, ex=_CONNECTIONS_TTL)
        except redis.RedisError as exc:
            log.debug("connection count not stored: %s", exc)


def connections_refresh() -> None:
    """Called periodically by processes holding connections (see CountConnections)."""
    connections_changed(0)


def active_connections() -> Iterable[Metric]:
    client = redis_client()
    total = 0
    for key in client.scan_iter(match=f"{settings.AMAS_METRICS_PREFIX}:connections:*", count=500):
        value = client.get(key)
        total += int(value or 0)
    yield GaugeMetricFamily(
        "amas_active_connections", "Open websocket connections, all web processes.", value=total
    )


class CountConnections:
    """ASGI middleware around a websocket consumer that keeps amas_active_connections current."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        import asyncio

        from asgiref.sync import sync_to_async

        opened = False

        async def counting_send(message: dict) -> None:
            nonlocal opened
            # Counted before the accept goes out: a client that sees its socket open also sees
            # it counted (if the send fails, the finally below takes it back).
            if message.get("type") == "websocket.accept" and not opened:
                opened = True
                await sync_to_async(connections_changed, thread_sensitive=False)(1)
            await send(message)

        async def refresh() -> None:
            while True:
                await asyncio.sleep(_CONNECTIONS_TTL / 3)
                await sync_to_async(connections_refresh, thread_sensitive=False)()

        refresher = asyncio.ensure_future(refresh())
        try:
            return await self.inner(scope, receive, counting_send)
        finally:
            refresher.cancel()
            if opened:
                await sync_to_async(connections_changed, thread_sensitive=False)(-1)


@dataclass
class _Scrape:
    families: list[Metric] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _counter_families(raw: dict[str, dict[bytes, bytes]]) -> Iterable[Metric]:
    for metric in _metrics.values():
        values = {k.decode(): float(v) for k, v in raw.get(metric.name, {}).items()}
        if metric.kind == "counter":
            name = metric.name[: -len("_total")] if metric.name.endswith("_total") else metric.name
            counter = CounterMetricFamily(name, metric.help, labels=list(metric.labels))
            for labels, value in sorted(values.items()):
                counter.add_metric(json.loads(labels), value)
            yield counter
            continue
        family = HistogramMetricFamily(metric.name, metric.help, labels=list(metric.labels))
        series: dict[str, dict[str, float]] = {}
        for name, value in values.items():
            labels, _, part = name.rpartition("|")
            series.setdefault(labels, {})[part] = value
        for labels, parts in sorted(series.items()):
            cumulative, buckets = 0.0, []
            for index, le in enumerate([*metric.buckets, math.inf]):
                cumulative += parts.get(f"b{index}", 0.0)
                buckets.append(("+Inf" if le == math.inf else repr(float(le)), cumulative))
            family.add_metric(json.loads(labels), buckets, parts.get("sum", 0.0))
        yield family


class RedisCollector:
    """prometheus_client collector: counters and histograms from Redis, gauges from sources."""

    def collect(self) -> Iterable[Metric]:
        scrape = _Scrape()
        started = time.perf_counter()
        try:
            flush()  # this process's buffered counts; other processes' arrive within a flush interval
            pipe = redis_client().pipeline(transaction=False)
            names = list(_metrics)
            for name in names:
                pipe.hgetall(_key(name))
            raw = dict(zip(names, pipe.execute(), strict=True))
            scrape.families.extend(_counter_families(raw))
            redis_up = 1
        except redis.RedisError as exc:
            scrape.errors.append(f"redis: {exc}")
            redis_up = 0
        for source in _gauge_sources:
            try:
                scrape.families.extend(source())
            except Exception as exc:  # one broken source must not hide the others
                log.warning("metrics source %s failed: %s", getattr(source, "__name__", source), exc)
                scrape.errors.append(f"{getattr(source, '__name__', source)}: {exc}")
        yield from scrape.families
        yield GaugeMetricFamily(
            "amas_metrics_store_up", "1 if the Redis metrics store answered.", value=redis_up
        )
        yield GaugeMetricFamily(
            "amas_metrics_scrape_errors",
            "Gauge sources that failed during this scrape.",
            value=len(scrape.errors),
        )
        yield GaugeMetricFamily(
            "amas_metrics_scrape_seconds",
            "Time to assemble this scrape.",
            value=time.perf_counter() - started,
        )


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def reset() -> None:
    """Delete every recorded value (tests, or an operator starting over), this process's buffer too."""
    with _flush_lock:
        with _buffer_lock:
            _buffer.clear()
        client = redis_client()
        keys = list(client.scan_iter(match=f"{settings.AMAS_METRICS_PREFIX}:*", count=500))
        if keys:
            client.delete(*keys)


register_gauge_source(queue_depth)
register_gauge_source(active_connections)
