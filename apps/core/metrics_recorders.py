"""Where the process-wide metrics of apps/core/metrics.py are recorded: API requests (middleware)
and Celery tasks (worker signals). `install()` connects the signals once per process from
CoreConfig.ready(). What an app's own metrics record (task events, ledger rows, gauges) the app
connects itself (apps/<app>/observability.py), so core depends on no app."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core import metrics

log = logging.getLogger(__name__)


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
            metrics.record_later(*batches)  # buffered: sent to Redis by the process's flusher


_started: dict[str, float] = {}


def _worker_task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _worker_task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kw: Any
) -> None:
    started = _started.pop(task_id or "", None)
    name = getattr(task, "name", "") or "unknown"
    # Buffered like the API's counts: two MULTI/EXEC round trips per Celery task were a third of
    # a bare no-op task's CPU in a pool child (amas.celery flushes a child's buffer at its exit).
    batches = [metrics.WORKER_TASKS.increments(task=name, state=(state or "unknown").lower())]
    if started is not None:
        batches.append(metrics.WORKER_TASK_SECONDS.observations(time.perf_counter() - started, task=name))
    metrics.record_later(*batches)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_worker_task_started, weak=False, dispatch_uid="amas-metrics-prerun")
    task_postrun.connect(_worker_task_finished, weak=False, dispatch_uid="amas-metrics-postrun")
