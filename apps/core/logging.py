"""Structured logs: every record carries the request id, the user, and the task and step it
concerns, in web processes and in workers alike.

- Web: RequestIdMiddleware sets the request id; LogContextMiddleware makes the request's user
  visible to log records (read lazily, after API token authentication has replaced it).
- Web -> worker: `before_task_publish` copies the context into the Celery message headers
  (amas_request_id, amas_user, amas_task_id, amas_step_id); `task_prerun` restores it in the
  worker, and adds the task/step a step or delivery message is about. Whatever the worker sends
  on (the next step, a webhook delivery) carries the same context further.
- Format: AMAS_LOG_FORMAT=json (one JSON object per line) or console (human-readable; the default
  when DEBUG is on, as in `make run`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from apps.core import request_context

user_var: ContextVar[str] = ContextVar("amas_log_user", default="")
task_var: ContextVar[str] = ContextVar("amas_log_task_id", default="")
step_var: ContextVar[str] = ContextVar("amas_log_step_id", default="")
_request: ContextVar[HttpRequest | None] = ContextVar("amas_log_request", default=None)

CONTEXT_FIELDS = ("request_id", "user", "task_id", "step_id")
_VARIABLES: dict[str, ContextVar[str]] = {
    "request_id": request_context.request_id,
    "user": user_var,
    "task_id": task_var,
    "step_id": step_var,
}
HEADER_PREFIX = "amas_"


def _request_user(request: HttpRequest) -> str:
    """The request's user if authentication already resolved it; never triggers a lookup."""
    found = request.__dict__.get("user")
    if found is None:
        return ""
    if isinstance(found, SimpleLazyObject):
        if found._wrapped is empty:  # type: ignore[attr-defined]  # not evaluated yet: no query from a log call
            return ""
        found = found._wrapped  # type: ignore[attr-defined]
    if getattr(found, "is_authenticated", False):
        return str(found.pk)
    return ""


# The step runner starts each agent in a thread named "agent-<step id>"; threads do not inherit
# context variables, so records from agent threads find their context here by that name.
_by_step: dict[str, dict[str, str]] = {}


def current_context() -> dict[str, str]:
    request = _request.get()
    context = {
        "request_id": request_context.request_id.get(),
        "user": user_var.get() or (_request_user(request) if request is not None else ""),
        "task_id": task_var.get(),
        "step_id": step_var.get(),
    }
    if not context["step_id"] and _by_step:
        name = threading.current_thread().name
        if name.startswith("agent-"):
            for key, value in _by_step.get(name[len("agent-") :], {}).items():
                context[key] = context[key] or value
    return context


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind task_id / step_id / user / request_id for the duration of a block."""
    tokens = [(_VARIABLES[name], _VARIABLES[name].set(str(value))) for name, value in values.items() if value]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


class ContextFilter(logging.Filter):
    """Puts the current context on each record (explicit `extra=` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from apps.core import tracing

        for name, value in {**current_context(), **tracing.current_ids()}.items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in entry and name not in CONTEXT_FIELDS:
                entry[name] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(context)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"{label}={str(getattr(record, name, ''))[:12]}"
            for name, label in (
                ("request_id", "req"),
                ("user", "user"),
                ("task_id", "task"),
                ("step_id", "step"),
            )
            if getattr(record, name, "")
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def AmasFormatter() -> logging.Formatter:  # used as a formatter class in LOGGING
    """The formatter AMAS_LOG_FORMAT asks for; by default console when DEBUG, else JSON."""
    from django.conf import settings

    chosen = (getattr(settings, "AMAS_LOG_FORMAT", "") or ("console" if settings.DEBUG else "json")).lower()
    return ConsoleFormatter() if chosen == "console" else JsonFormatter()


class LogContextMiddleware:
    """Makes the request (and so its user, once authenticated) visible to log records."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


# --- Celery: carry the context in message headers -----------------------------------------------

# Celery task name -> function(args, kwargs) giving the task/step a message is about.
ContextResolver = Callable[[tuple, dict], dict[str, Any]]
_resolvers: dict[str, ContextResolver] = {}


def register_task_context(task_name: str, resolver: ContextResolver) -> None:
    """Apps register the resolvers of their own Celery tasks in AppConfig.ready()."""
    _resolvers[task_name] = resolver


def _before_publish(headers: dict | None = None, **kwargs: Any) -> None:
    if headers is None:
        return
    for name, value in current_context().items():
        if value and f"{HEADER_PREFIX}{name}" not in headers:
            headers[f"{HEADER_PREFIX}{name}"] = value


_tokens: dict[str, list] = {}


def _task_prerun(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **kw: Any
) -> None:
    request = getattr(task, "request", None)
    values = {name: getattr(request, f"{HEADER_PREFIX}{name}", None) or "" for name in CONTEXT_FIELDS}
    resolver = _resolvers.get(getattr(task, "name", ""))
    if resolver is not None:
        try:
            values.update({k: v for k, v in resolver(tuple(args or ()), dict(kwargs or {})).items() if v})
        except Exception:  # context is a nicety; never fail the task for it
            logging.getLogger(__name__).debug("no log context for %s", task, exc_info=True)
    _tokens[task_id or ""] = [(_VARIABLES[n], _VARIABLES[n].set(str(v))) for n, v in values.items() if v]
    if values.get("step_id"):
        _by_step[str(values["step_id"])] = {n: str(v) for n, v in values.items() if v}


def _task_postrun(task_id: str | None = None, **kwargs: Any) -> None:
    step = step_var.get()
    if step:
        _by_step.pop(step, None)
    for variable, token in reversed(_tokens.pop(task_id or "", [])):
        try:
            variable.reset(token)
        except ValueError:  # set in another context (thread pools): clear instead
            variable.set("")


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_before_publish, weak=False, dispatch_uid="amas-log-publish")
    task_prerun.connect(_task_prerun, weak=False, dispatch_uid="amas-log-prerun")
    task_postrun.connect(_task_postrun, weak=False, dispatch_uid="amas-log-postrun")
