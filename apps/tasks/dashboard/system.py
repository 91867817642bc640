"""System status for the dashboard: Celery queue depths (straight from Redis: `celery inspect`
waits for every worker to answer and is far too slow for a page), providers and agents.

Providers, agents and knowledge are other apps: their reads go through their selectors where
they exist; where an app does not expose a read yet the page says so instead of failing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from apps.agents.registry import agent_registry
from apps.tasks.dashboard.selectors import AgentStats, agent_stats, steps_running_by_agent
from apps.tasks.models import Task
from apps.users.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    depth: int | None  # None: Redis did not answer


def queue_depths() -> list[QueueDepth]:
    """Messages waiting per Celery queue. kombu's Redis transport keeps one list per priority
    step (`agents`, `agents:1` ... `agents:9`), so a queue's depth is the sum of their LLENs."""
    queues = list(settings.AMAS_QUEUES)
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    sep = options.get("sep", ":")
    steps = [p for p in options.get("priority_steps", [0]) if p] or []
    names = {q: [q, *(f"{q}{sep}{p}" for p in steps)] for q in queues}
    conn = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        pipe = conn.pipeline(transaction=False)
        for q in queues:
            for name in names[q]:
                pipe.llen(name)
        lengths = iter(pipe.execute())
    except redis.RedisError:
        log.warning("queue depths: the broker did not answer", exc_info=True)
        return [QueueDepth(name=q, depth=None) for q in queues]
    finally:
        conn.close()
    return [QueueDepth(name=q, depth=sum(next(lengths) for _ in names[q])) for q in queues]


def admin_url(name: str, *args: object) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


# ----------------------------------------------------------------------------------- agents


@dataclass
class AgentRow:
    type: str
    label: str
    description: str
    capabilities: list[str]
    task_types: list[str]
    target_kinds: list[str]
    configs: list[Any] = field(default_factory=list)  # apps.agents.models.AgentConfig
    stats: AgentStats | None = None
    running: int = 0
    registered: bool = True

    @property
    def enabled(self) -> bool:
        return any(c.enabled for c in self.configs) if self.configs else self.registered

    @property
    def health(self) -> bool | None:
        known = [c.last_health_ok for c in self.configs if c.last_health_ok is not None]
        if not known:
            return None
        return all(known)


def _agent_configs() -> list[Any]:
    try:
        from apps.agents.selectors import agent_config_list
    except ImportError:  # agent configuration is not installed: registered agents only
        return []
    return list(agent_config_list())


def agent_rows(*, user: User, since: datetime) -> list[AgentRow]:
    """Every registered agent (and every configured type, even without code), with its configs,
    health, running steps and the organisation's statistics since `since`."""
    rows: dict[str, AgentRow] = {}
    for agent in agent_registry.items():
        rows[agent.type] = AgentRow(
            type=agent.type,
            label=agent.label,
            description=agent.description,
            capabilities=sorted(agent.capabilities),
            task_types=sorted(agent.task_types),
            target_kinds=sorted(agent.target_kinds),
        )
    for config in _agent_configs():
        row = rows.get(config.agent_type)
        if row is None:
            row = rows[config.agent_type] = AgentRow(
                type=config.agent_type,
                label=config.agent_type,
                description="No code is registered for this type.",
                capabilities=list(config.capabilities or []),
                task_types=[],
                target_kinds=[],
                registered=False,
            )
        config.admin_url = admin_url("admin:agents_agentconfig_change", config.pk)
        row.configs.append(config)
    stats = agent_stats(user=user, since=since)
    running = steps_running_by_agent(user=user)
    for agent_type, row in rows.items():
        row.stats = stats.get(agent_type)
        row.running = running.get(agent_type, 0)
    return sorted(rows.values(), key=lambda r: (not r.registered, r.type))


# -------------------------------------------------------------------------------- providers


@dataclass
class ProviderRow:
    id: int
    name: str
    kind: str
    model: str
    enabled: bool
    priority: int
    health_ok: bool | None
    health_at: datetime | None
    health_latency_ms: int | None
    last_error: str
    allowed_classifications: list[str]
    breaker: str = "unknown"
    breaker_failures: int = 0
    breaker_cooldown: float = 0.0
    calls: int = 0
    ok_calls: int = 0
    mean_latency_ms: float | None = None
    cost: float = 0.0
    admin_url: str | None = None

    @property
    def success_rate(self) -> float | None:
        return self.ok_calls / self.calls if self.calls else None

    @property
    def breaker_label(self) -> str:
        return self.breaker.replace("_", " ")


def provider_rows(*, user: User, since: datetime) -> list[ProviderRow] | None:
    """Providers with health, breaker state and the organisation's calls since `since`; None
    when the providers app is not installed."""
    try:
        from apps.providers import selectors as provider_selectors
    except ImportError:
        provider_selectors = None
    try:
        if provider_selectors is not None and hasattr(provider_selectors, "provider_list"):
            providers = list(provider_selectors.provider_list())
        else:
            # The providers app has no selectors module yet: read its model directly.
            from apps.providers.models import Provider

            providers = list(Provider.objects.order_by("priority", "name"))
    except ImportError:
        return None
    rows = [
        ProviderRow(
            id=p.pk,
            name=p.name,
            kind=p.get_kind_display() if hasattr(p, "get_kind_display") else p.kind,
            model=p.model,
            enabled=p.enabled,
            priority=p.priority,
            health_ok=p.last_health_ok,
            health_at=p.last_health_at,
            health_latency_ms=p.last_health_latency_ms,
            last_error=p.last_error,
            allowed_classifications=list(p.allowed_classifications or []),
            admin_url=admin_url("admin:providers_provider_change", p.pk),
        )
        for p in providers
    ]
    _add_breakers(rows)
    _add_call_stats(rows, user=user, since=since)
    return rows


def _add_breakers(rows: list[ProviderRow]) -> None:
    try:
        from apps.providers import breaker
    except ImportError:
        return
    try:
        states = breaker.states([r.id for r in rows]) if rows else {}
    except redis.RedisError:
        log.warning("provider breakers: Redis did not answer", exc_info=True)
        return
    for row in rows:
        state = states.get(row.id)
        if state is not None:
            row.breaker = state.state
            row.breaker_failures = state.failures
            row.breaker_cooldown = state.cooldown_remaining


def _add_call_stats(rows: list[ProviderRow], *, user: User, since: datetime) -> None:
    from django.db.models import Avg, Count, Q, Sum

    try:
        from apps.providers.models import ProviderCall
    except ImportError:
        return
    stats = (
        ProviderCall.objects.filter(organization_id=user.organization_id, created_at__gte=since)
        .order_by()
        .values("provider_id")
        .annotate(
            calls=Count("id"),
            ok=Count("id", filter=Q(outcome__in=("ok", "cached"))),
            latency=Avg("latency_ms", filter=Q(outcome="ok")),
            cost=Sum("cost"),
        )
    )
    by_id = {s["provider_id"]: s for s in stats}
    for row in rows:
        s = by_id.get(row.id)
        if s:
            row.calls, row.ok_calls = s["calls"], s["ok"]
            row.mean_latency_ms = s["latency"]
            row.cost = float(s["cost"] or 0)


# ------------------------------------------------------------------------- a task's extras


def task_artefacts(*, user: User, task: Task) -> list[Any]:
    try:
        from apps.knowledge.selectors import artefact_list_for_user
    except ImportError:
        return []
    artefacts = list(artefact_list_for_user(user=user).filter(task=task).order_by("created_at"))
    for artefact in artefacts:
        artefact.download_url = admin_url("knowledge:artefact_download", artefact.pk)
    return artefacts


def task_provider_calls(*, task: Task, limit: int = 100) -> list[Any] | None:
    """The ledger rows of a task (None: the providers app keeps no ledger here)."""
    try:
        from apps.providers import selectors as provider_selectors

        if hasattr(provider_selectors, "provider_calls_for_task"):
            return list(provider_selectors.provider_calls_for_task(task=task)[:limit])
    except ImportError:
        pass
    try:
        from apps.providers.models import ProviderCall
    except ImportError:
        return None
    return list(ProviderCall.objects.filter(task=task).order_by("created_at")[:limit])


def task_entities(*, user: User, task: Task, limit: int = 200) -> list[Any] | None:
    """Entities the task's results put in the knowledge graph (None: no graph available)."""
    try:
        from apps.knowledge.graph import get_graph_store
    except ImportError:
        return None
    try:
        entities = get_graph_store().task_entities(str(task.pk), organization_id=user.organization_id)
    except Exception:  # an unreachable Neo4j must not take the task page down
        log.warning("task entities: the graph store failed", exc_info=True)
        return None
    return list(entities)[:limit]


def graph_url_for(entity: Any) -> str | None:
    for name in ("knowledge:graph", "graph"):
        try:
            base = reverse(name)
        except NoReverseMatch:
            continue
        from urllib.parse import urlencode

        return f"{base}?{urlencode({'kind': entity.kind, 'value': entity.value})}"
    return None
