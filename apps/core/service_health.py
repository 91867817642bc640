"""Service health: the dependency graph of a web process and the state of every node in it.

    web -> postgres, redis, broker, (neo4j), (s3)
    broker -> workers          postgres + broker -> beat          postgres -> providers

The infrastructure nodes are core's; apps add their own with `register_node()` from
AppConfig.ready() (providers adds "providers"), so core knows no app.

Nodes are checked in dependency order; a node whose dependency is down is not checked at all
(it is reported down, naming the dependency), so one outage shows up once, where it is. The
checks of postgres, redis, broker, neo4j and s3 are apps/core/health.py's, the same /ready runs.
`ready` is true when every critical node (the ones a web process cannot serve without) is up;
workers, beat and providers only degrade the overall status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.core import health

UP, DEGRADED, DOWN = "up", "degraded", "down"


class Degraded(Exception):
    """A check that works but not fully (some queues without a worker, some providers failing)."""


@dataclass(frozen=True)
class Node:
    name: str
    label: str
    depends_on: tuple[str, ...]
    check: Callable[[], Any]
    critical: bool


@dataclass
class NodeState:
    name: str
    label: str
    state: str
    latency_ms: float
    detail: str
    depends_on: tuple[str, ...]
    critical: bool
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "state": self.state,
            "latency_ms": round(self.latency_ms, 2),
            "detail": self.detail,
            "depends_on": list(self.depends_on),
            "critical": self.critical,
            "info": self.info,
        }


def check_web() -> str:
    return "this process answers"


def check_workers() -> tuple[str, dict[str, Any]]:
    """Celery workers that answer a broadcast within AMAS_HEALTH_WORKER_TIMEOUT, and the queues
    they consume; queues nobody consumes make the node degraded."""
    from amas.celery import app

    replies = app.control.inspect(timeout=settings.AMAS_HEALTH_WORKER_TIMEOUT).active_queues() or {}
    if not replies:
        raise RuntimeError("no worker answered")
    queues: dict[str, list[str]] = {}
    for worker, consumed in replies.items():
        for queue in consumed or []:
            queues.setdefault(queue["name"], []).append(worker)
    info = {"workers": sorted(replies), "queues": {q: sorted(w) for q, w in sorted(queues.items())}}
    orphaned = [q for q in settings.AMAS_QUEUES if q not in queues]
    info["queues_without_worker"] = orphaned
    detail = f"{len(replies)} worker(s)"
    if orphaned:
        raise Degraded(f"{detail}; no worker consumes {', '.join(orphaned)}", info)
    return detail, info


def check_beat() -> tuple[str, dict[str, Any]]:
    """Beat is alive when the reaper entry ran recently (django-celery-beat records last_run_at;
    its DatabaseScheduler writes it back every few minutes, hence the generous window)."""
    from django_celery_beat.models import PeriodicTask

    entry = PeriodicTask.objects.filter(name=settings.AMAS_HEALTH_BEAT_ENTRY).values("last_run_at").first()
    if entry is None or entry["last_run_at"] is None:
        raise RuntimeError(f"beat has never run {settings.AMAS_HEALTH_BEAT_ENTRY!r}")
    age = (timezone.now() - entry["last_run_at"]).total_seconds()
    info = {
        "entry": settings.AMAS_HEALTH_BEAT_ENTRY,
        "last_run_at": entry["last_run_at"].isoformat(),
        "age_s": int(age),
    }
    if age > settings.AMAS_HEALTH_BEAT_MAX_AGE:
        raise RuntimeError(f"last ran {int(age)}s ago (more than {int(settings.AMAS_HEALTH_BEAT_MAX_AGE)}s)")
    return f"last run {int(age)}s ago", info


_LABELS = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "broker": "Celery broker",
    "neo4j": "Neo4j",
    "s3": "S3 storage",
}


_registered: dict[str, Node] = {}


def register_node(node: Node) -> Node:
    """Add an app's node to the graph (from its AppConfig.ready()). Its dependencies must be nodes
    checked before it: core's own, or nodes registered earlier. Registering again replaces it."""
    _registered[node.name] = node
    return node


def graph() -> list[Node]:
    """The nodes in dependency order (every node after the ones it depends on)."""
    critical = {"postgres", "redis", "broker"}
    nodes = [Node("web", "Web (this process)", (), check_web, True)]
    for name, check in health.configured_checks().items():
        nodes.append(Node(name, _LABELS.get(name, name), ("web",), check, name in critical))
    nodes += [
        Node("workers", "Celery workers", ("broker",), check_workers, False),
        Node("beat", "Celery beat", ("postgres", "broker"), check_beat, False),
    ]
    nodes += _registered.values()
    return nodes


def _run(node: Node) -> NodeState:
    started = time.perf_counter()
    info: dict[str, Any] = {}
    try:
        answer = node.check()
        detail, info = answer if isinstance(answer, tuple) else (str(answer), {})
        state = UP
    except Degraded as exc:
        detail = str(exc.args[0])
        info = exc.args[1] if len(exc.args) > 1 else {}
        state = DEGRADED
    except Exception as exc:  # any failure is this node being down; the text says why
        detail = f"{type(exc).__name__}: {exc}"[:300]
        state = DOWN
    latency = (time.perf_counter() - started) * 1000
    return NodeState(node.name, node.label, state, latency, detail, node.depends_on, node.critical, info)


def service_health() -> dict[str, Any]:
    states: dict[str, NodeState] = {}
    for node in graph():
        blocked = [d for d in node.depends_on if d in states and states[d].state == DOWN]
        if blocked:
            states[node.name] = NodeState(
                node.name,
                node.label,
                DOWN,
                0.0,
                f"not checked: depends on {', '.join(blocked)}, which is down",
                node.depends_on,
                node.critical,
            )
            continue
        # Reuse the /ready machinery for timing and error text where the check is health.py's.
        if node.check in health.configured_checks().values():
            result = health.run_check(node.name, node.check)
            states[node.name] = NodeState(
                node.name,
                node.label,
                UP if result.ok else DOWN,
                result.latency_ms,
                result.detail,
                node.depends_on,
                node.critical,
            )
        else:
            states[node.name] = _run(node)
    ready = all(s.state == UP for s in states.values() if s.critical)
    if not ready:
        status = DOWN
    elif all(s.state == UP for s in states.values()):
        status = "ok"
    else:
        status = DEGRADED
    return {
        "status": status,
        "ready": ready,
        "checked_at": timezone.now().isoformat(),
        "nodes": [s.as_dict() for s in states.values()],
        "edges": [[s.name, d] for s in states.values() for d in s.depends_on],
    }
