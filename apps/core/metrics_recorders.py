"""Where the metrics of apps/core/metrics.py are recorded: task events (event hook), the provider
ledger (a row per router call), API requests (middleware) and Celery tasks (worker signals).
`install()` connects them; it runs once per process from an AppConfig.ready()."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core import metrics

log = logging.getLogger(__name__)

TASK_TERMINAL_EVENTS = {"task.completed", "task.failed", "task.cancelled", "task.timed_out"}
STEP_TERMINAL_EVENTS = {"step.completed", "step.failed", "step.cancelled", "step.timed_out"}


def task_event_record(event: Any) -> None:
    """Event hook (after commit, in whichever process made the change)."""
    kind = event.type
    payload = event.payload or {}
    if kind == "task.created":
        metrics.TASKS_CREATED.inc(task_type=payload.get("task_type", ""))
    elif kind in TASK_TERMINAL_EVENTS:
        status = kind.split(".", 1)[1]
        metrics.TASKS_COMPLETED.inc(status=status)
        from apps.tasks.models import Task

        times = Task.objects.filter(pk=event.task_id).values("started_at", "finished_at").first()
        if times and times["started_at"] and times["finished_at"]:
            seconds = (times["finished_at"] - times["started_at"]).total_seconds()
            metrics.TASK_DURATION.observe(max(0.0, seconds), status=status)
    elif kind in STEP_TERMINAL_EVENTS:
        agent = payload.get("agent", "")
        metrics.STEPS_FINISHED.inc(agent=agent, status=kind.split(".", 1)[1])
        if "processing_time_ms" in payload:
            metrics.STEP_DURATION.observe(payload["processing_time_ms"] / 1000.0, agent=agent)
    elif kind == "step.retrying":
        metrics.STEPS_RETRIED.inc(agent=payload.get("agent", ""))


def provider_call_record(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save of apps.providers ProviderCall: the ledger row is the record of a router call."""
    if not created:
        return
    provider = instance.provider_name or "-"
    metrics.PROVIDER_CALLS.inc(provider=provider, status=instance.outcome)
    if instance.latency_ms:
        metrics.PROVIDER_LATENCY.observe(instance.latency_ms / 1000.0, provider=provider)
    if instance.outcome == "error":
        metrics.PROVIDER_ERRORS.inc(provider=provider)
    if instance.cost:
        metrics.PROVIDER_COST.inc(float(instance.cost), provider=provider)
    if instance.tokens_in:
        metrics.PROVIDER_TOKENS.inc(instance.tokens_in, provider=provider, direction="in")
    if instance.tokens_out:
        metrics.PROVIDER_TOKENS.inc(instance.tokens_out, provider=provider, direction="out")
    if instance.outcome == "ok" and _fell_back(instance.attempts, provider):
        metrics.PROVIDER_FALLBACKS.inc(provider=provider)


def _fell_back(attempts: Any, answered_by: str) -> bool:
    """Whether another provider was tried before the one that answered (the ledger's attempts list
    holds one entry per provider tried, each naming it)."""
    if not isinstance(attempts, list):
        return False
    tried = []
    for attempt in attempts:
        if isinstance(attempt, dict):
            name = attempt.get("provider") or attempt.get("provider_name") or attempt.get("name")
            if name and name not in tried:
                tried.append(str(name))
    return len(tried) > 1 or (len(tried) == 1 and tried[0] != answered_by)


class ApiMetricsMiddleware:
    """Counts and times REST API requests. The route label is the URL pattern, never the raw path,
    so ids do not explode the number of series."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(settings.AMAS_METRICS_API_PREFIX):
            return self.get_response(request)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            match = getattr(request, "resolver_match", None)
            route = "/" + match.route if match is not None and match.route else "unmatched"
            method = request.method or "GET"
            batches = [
                metrics.API_REQUESTS.increments(method=method, route=route, status=str(status)),
                metrics.API_LATENCY.observations(elapsed, method=method, route=route),
            ]
            if status >= 400:
                kind = "server" if status >= 500 else "client"
                batches.append(metrics.API_ERRORS.increments(method=method, route=route, kind=kind))
            metrics.record(*batches)  # one Redis round trip per request


_started: dict[str, float] = {}


def _worker_task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _worker_task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kw: Any
) -> None:
    started = _started.pop(task_id or "", None)
    name = getattr(task, "name", "") or "unknown"
    metrics.WORKER_TASKS.inc(task=name, state=(state or "unknown").lower())
    if started is not None:
        metrics.WORKER_TASK_SECONDS.observe(time.perf_counter() - started, task=name)


def webhook_gauges() -> Any:
    from prometheus_client.core import GaugeMetricFamily

    from apps.webhooks.selectors import deliveries_pending_count, endpoint_counts

    family = GaugeMetricFamily("amas_webhook_endpoints", "Webhook endpoints by state.", labels=["state"])
    for state, count in endpoint_counts().items():
        family.add_metric([state], count)
    yield family
    yield GaugeMetricFamily(
        "amas_webhook_deliveries_pending",
        "Deliveries waiting for their next attempt.",
        value=deliveries_pending_count(),
    )


def provider_breaker_gauges() -> Any:
    """Circuit breaker per enabled provider, as apps.providers.breaker keeps it in Redis."""
    from prometheus_client.core import GaugeMetricFamily

    from apps.providers import breaker
    from apps.providers.selectors import provider_list

    providers = {p.pk: p.name for p in provider_list().filter(enabled=True).only("pk", "name")}
    family = GaugeMetricFamily(
        "amas_ai_provider_breaker_state",
        "Circuit breaker per enabled provider: 0 closed, 1 half-open, 2 open.",
        labels=["provider"],
    )
    codes = {breaker.CLOSED: 0, breaker.HALF_OPEN: 1, breaker.OPEN: 2}
    for provider_id, state in breaker.states(list(providers)).items():
        family.add_metric([providers[provider_id]], codes.get(state.state, 0))
    yield family


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from celery.signals import task_postrun, task_prerun
    from django.db.models.signals import post_save

    from apps.tasks.hooks import register_event_hook

    register_event_hook(task_event_record)
    try:
        from apps.providers.models import ProviderCall
    except ImportError:  # pragma: no cover - the providers app is part of AMAS
        ProviderCall = None  # noqa: N806
    if ProviderCall is not None:
        post_save.connect(provider_call_record, sender=ProviderCall, dispatch_uid="amas-metrics-ledger")
    task_prerun.connect(_worker_task_started, weak=False, dispatch_uid="amas-metrics-prerun")
    task_postrun.connect(_worker_task_finished, weak=False, dispatch_uid="amas-metrics-postrun")
    metrics.register_gauge_source(webhook_gauges)
    metrics.register_gauge_source(provider_breaker_gauges)
