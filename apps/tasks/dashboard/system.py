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


def url_or_none(name: str, *args: object) -> str | None:
    """The URL of a page another app may or may not serve yet."""
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
        config.admin_url = url_or_none("admin:agents_agentconfig_change", config.pk)
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
    breaker: str
    breaker_failures: int
    breaker_cooldown: float
    success_rate: float | None  # recent calls, every organisation (the router's live statistics)
    latency_ms: float | None
    calls: int  # the organisation's calls in the last 24 hours
    cost: float
    cost_total: float
    admin_url: str | None = None

    @property
    def breaker_label(self) -> str:
        return self.breaker.replace("_", " ")


def provider_rows(*, user: User) -> list[ProviderRow] | None:
    """Providers with health, breaker state, live success rate and latency, and the
    organisation's calls and cost; None while the providers app exposes no overview."""
    try:
        from apps.providers.selectors import provider_overview
    except ImportError:
        return None
    try:
        overview = provider_overview(organization_id=user.organization_id)
    except redis.RedisError:
        log.warning("provider overview: Redis did not answer", exc_info=True)
        return None
    rows = []
    for o in overview:
        p = o.provider
        rows.append(
            ProviderRow(
                id=p.pk,
                name=p.name,
                kind=p.get_kind_display(),
                model=p.model,
                enabled=p.enabled,
                priority=p.priority,
                health_ok=p.last_health_ok,
                health_at=p.last_health_at,
                health_latency_ms=p.last_health_latency_ms,
                last_error=p.last_error,
                allowed_classifications=list(p.allowed_classifications or []),
                breaker=o.breaker_state,
                breaker_failures=o.breaker_failures,
                breaker_cooldown=o.breaker_cooldown_remaining,
                success_rate=o.success_rate,
                latency_ms=o.mean_latency_ms_24h if o.mean_latency_ms_24h is not None else o.ewma_latency_ms,
                calls=o.calls_24h,
                cost=float(o.cost_24h),
                cost_total=float(o.cost_total),
                admin_url=url_or_none("admin:providers_provider_change", p.pk),
            )
        )
    return rows


# ------------------------------------------------------------------------- a task's extras


def task_artefacts(*, user: User, task: Task) -> list[Any]:
    try:
        from apps.knowledge.selectors import artefact_list_for_user
    except ImportError:
        return []
    artefacts = list(artefact_list_for_user(user=user).filter(task=task).order_by("created_at"))
    for artefact in artefacts:
        artefact.download_url = url_or_none("knowledge:artefact_download", artefact.pk)
    return artefacts


def task_provider_calls(*, task: Task, limit: int = 100) -> list[Any] | None:
    """The ledger rows of a task (None: the providers app keeps no ledger here)."""
    try:
        from apps.providers import selectors as provider_selectors
    except ImportError:
        return None
    if hasattr(provider_selectors, "provider_calls_for_task"):
        return list(provider_selectors.provider_calls_for_task(task=task)[:limit])
    # No selector for a task's calls yet: the ledger's reverse relation on Task (read only).
    return list(task.provider_calls.order_by("created_at")[:limit])


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
