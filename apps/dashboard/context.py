"""The one place where a page's context is assembled from more than one app: the overview, a
task's page, the agents and providers pages and the similar-tasks fragment. Other apps are read
only through their selectors (and the agent registry); views call these and render.

Queue depths come straight from Redis: `celery inspect` waits for every worker to answer and is
far too slow for a page."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from apps.agents.registry import agent_registry
from apps.agents.selectors import agent_config_list
from apps.dashboard import presenters, reports
from apps.dashboard.charts import hourly_chart
from apps.dashboard.graph_layout import entity_url, graph_url
from apps.knowledge.graph import get_graph_store
from apps.knowledge.search import SimilarTask, similar_tasks
from apps.knowledge.selectors import artefact_list_for_user
from apps.providers.selectors import provider_calls_for_task, provider_overview
from apps.tasks import page_selectors as board
from apps.tasks import selectors as task_selectors
from apps.tasks.models import TaskStatus
from apps.tasks.page_selectors import AgentStats

if TYPE_CHECKING:
    from apps.tasks.models import Task
    from apps.users.models import User

log = logging.getLogger(__name__)

RETRYABLE = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED})

# The sections of a page an htmx request may ask for alone (the partials of its template).
OVERVIEW_STATUS, OVERVIEW_HEALTH = "overview-status", "overview-health"
TASK_STATE, TASK_RESULTS = "task-state", "task-results"


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
    for config in agent_config_list():
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
        # Rows carry what their template shows (attributes for the page only, never saved).
        config.admin_url = reverse("admin:agents_agentconfig_change", args=[config.pk])  # type: ignore[attr-defined]
        row.configs.append(config)
    stats = board.agent_stats(user=user, since=since)
    running = board.steps_running_by_agent(user=user)
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
    organisation's calls and cost; None while Redis (the router's live statistics) is down."""
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
                admin_url=reverse("admin:providers_provider_change", args=[p.pk]),
            )
        )
    return rows


# ------------------------------------------------------------------------- a task's extras


def task_artefacts(*, user: User, task: Task) -> list[Any]:
    return list(artefact_list_for_user(user=user).filter(task=task).order_by("created_at"))


def task_provider_calls(*, task: Task, limit: int = 100) -> list[Any]:
    """The provider ledger rows of a task."""
    return list(provider_calls_for_task(task=task)[:limit])


def task_entities(*, user: User, task: Task, limit: int = 200) -> list[Any] | None:
    """Entities the task's results put in the knowledge graph (None: the graph store failed)."""
    try:
        entities = get_graph_store().task_entities(str(task.pk), organization_id=task.organization_id)
    except Exception:  # an unreachable Neo4j must not take the task page down
        log.warning("task entities: the graph store failed", exc_info=True)
        return None
    entities = list(entities)[:limit]
    for entity in entities:
        entity.graph_url = graph_url(entity.kind, entity.value)  # type: ignore[attr-defined]
        entity.url = entity_url(entity.kind, entity.value)  # type: ignore[attr-defined]
    return entities


# ------------------------------------------------------------------------------------ pages


def overview_context(*, user: User, sections: frozenset[str]) -> dict[str, Any]:
    """The overview's context, only for the sections asked for (an htmx refresh asks for one)."""
    context: dict[str, Any] = {}
    if OVERVIEW_STATUS in sections:
        counts = board.task_status_counts(user=user)
        context.update(
            counts=counts,
            total=sum(counts.values()),
            status_counts=[(v, label.lower(), counts[v]) for v, label in TaskStatus.choices],
            chart=hourly_chart(board.task_hourly(user=user)),
            queues=queue_depths(),
            workers=board.worker_activity(),
            failures=board.task_recent_failures(user=user),
            recent=board.task_recent(user=user),
        )
    if OVERVIEW_HEALTH in sections:
        since = timezone.now() - timedelta(hours=24)
        context.update(providers=provider_rows(user=user), agents=agent_rows(user=user, since=since))
    return context


def task_detail_context(*, user: User, task: Task, sections: frozenset[str], page: bool) -> dict[str, Any]:
    """A task page's context: its state, its results with everything they produced (artefacts,
    provider calls, graph entities) and, for the whole page, the timeline and related tasks."""
    context: dict[str, Any] = {
        "task": task,
        "can_write": user.can_write,
        "can_cancel": user.can_write and not task.is_terminal,
        "can_retry": user.can_write and task.status in RETRYABLE,
    }
    if TASK_STATE in sections:
        explanation = (task.plan or {}).get("explanation", {})
        context.update(steps=board.task_steps(task=task), candidates=explanation.get("candidates", []))
    if TASK_RESULTS in sections:
        results = list(task_selectors.task_results(task=task))
        summary_text = str((task.summary or {}).get("text") or "").strip()
        for result in results:
            # Attributes for the template only (never saved); django-stubs knows the columns.
            result.report = reports.result_report(result.data, summary=result.summary)  # type: ignore[attr-defined]
            result.raw = presenters.pretty_json(result.data)  # type: ignore[attr-defined]
            known = result.agent in agent_registry
            label = agent_registry.get(result.agent).label if known else result.agent
            result.agent_label = label  # type: ignore[attr-defined]
            # The task's summary card shows this text already: once is enough.
            result.show_summary = result.summary.strip() != summary_text  # type: ignore[attr-defined]
        calls = task_provider_calls(task=task)
        entities = task_entities(user=user, task=task)
        # Values the graph knows as this task's entities link to their pages inside the reports.
        entity_urls = {e.value.strip().lower(): e.url for e in entities or []}
        entity_urls.update({e.normalized: e.url for e in entities or []})
        summary_report = reports.result_report((task.summary or {}).get("data") or {})
        for report in [summary_report, *(r.report for r in results)]:  # type: ignore[attr-defined]
            reports.link_entities(report, entity_urls)
        context.update(
            results=results,
            total_cost=sum((r.cost for r in results), start=0),
            total_tokens=sum(r.tokens_in + r.tokens_out for r in results),
            artefacts=task_artefacts(user=user, task=task),
            calls=calls,
            calls_cost=sum((c.cost for c in calls), start=0),
            entities=entities,
            summary_report=summary_report,
            raw_task=presenters.pretty_json(
                {
                    "id": str(task.pk),
                    "status": task.status,
                    "task_type": task.task_type,
                    "target": task.target,
                    "parameters": task.parameters,
                    "requested_agents": task.requested_agents,
                    "plan": task.plan,
                    "summary": task.summary,
                    "error_message": task.error_message,
                }
            ),
        )
    if page:
        events = board.task_events_tail(task=task)
        context.update(
            events=presenters.event_rows(events),
            events_hidden=max(0, task.last_event_seq - len(events)),
            last_seq=events[-1].seq if events else 0,
            runs=board.task_runs(user=user, task=task) if task.schedule_id else [],
            same_target=board.tasks_same_target(user=user, task=task),
        )
    return context


def similar_tasks_context(*, user: User, task_id: UUID | str) -> dict[str, Any]:
    """The similar-tasks fragment of a task page (raises NotFound for a task the user cannot see)."""
    task = task_selectors.task_get(user=user, task_id=task_id)
    similar: list[SimilarTask] = similar_tasks(user=user, task=task, limit=5)
    return {"task": task, "similar": similar}
