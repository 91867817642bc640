"""The decision engine: which configured agents run a task, learnt from how they did before.

Candidates are enabled agent configs (or, for an agent type nobody configured, the agent with
its defaults) that accept the task's type and target kind and may see its classification. Each is
scored on
- reliability: the success rate, a Beta(1 + successes, 1 + failures) posterior per candidate and
  task type over its latest results, Thompson-sampled so that little-tried agents still get picked
  now and then (or its mean when exploration is off);
- performance: its latency, an EWMA of processing_time_ms, relative to the fastest candidate;
- cost: its mean cost per step (Result.cost, or the provider ledger's spend for the step when
  larger), relative to the cheapest candidate;
- load: running steps against its concurrency limit. A candidate at its limit is not picked while
  another fits.
The total is the weighted sum (weights: settings, then admin DecisionSettings, then the task's
parameters["decision_weights"]) minus a small load penalty. Candidates that offer the same
capabilities are alternatives: the best one runs. A candidate that adds capabilities nobody chosen
has yet runs too, in the same parallel group."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.agents.base import Task
from apps.agents.concurrency import agent_slots_in_use_many
from apps.agents.history import SUCCESS, Outcome, agent_history
from apps.agents.models import AgentConfig
from apps.agents.registry import agent_registry
from apps.agents.selectors import agent_configs_for_decision, decision_settings_current
from apps.agents.targets import accepts_target, parse_target, task_target_kinds
from apps.core.exceptions import ValidationFailed
from apps.core.vocabulary import Classification

OBJECTIVES = ("performance", "cost", "reliability")
LOAD_PENALTY = 0.1
LATENCY_SMOOTHING_MS = 50.0
COST_SMOOTHING = 1e-4

_rng = random.SystemRandom()


@dataclass
class Candidate:
    agent_type: str
    agent_class: Any
    config: AgentConfig | None
    capabilities: frozenset[str]
    eligible: bool = True
    reason: str = ""
    successes: int = 0
    failures: int = 0
    latency_ms: float | None = None
    mean_cost: float | None = None
    running: int = 0
    sampled_success: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    chosen: bool = False

    @property
    def config_id(self) -> int | None:
        return self.config.pk if self.config else None

    @property
    def name(self) -> str:
        return self.config.name if self.config else self.agent_type

    @property
    def limit(self) -> int | None:
        return self.config.concurrency_limit if self.config else None

    @property
    def saturated(self) -> bool:
        return self.limit is not None and self.running >= self.limit

    @property
    def max_classification(self) -> str:
        return self.config.max_classification if self.config else Classification.RED

    def explain(self) -> dict[str, Any]:
        samples = self.successes + self.failures
        return {
            "agent": self.agent_type,
            "config_id": self.config_id,
            "config_name": self.name,
            "eligible": self.eligible,
            "chosen": self.chosen,
            "reason": self.reason,
            "capabilities": sorted(self.capabilities),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "total": round(self.total, 4),
            "stats": {
                "samples": samples,
                "successes": self.successes,
                "failures": self.failures,
                "success_mean": round((1 + self.successes) / (2 + samples), 4),
                "sampled_success": round(self.sampled_success, 4),
                "latency_ewma_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "mean_cost": None if self.mean_cost is None else round(self.mean_cost, 6),
                "running": self.running,
                "concurrency_limit": self.limit,
            },
        }


@dataclass
class Decision:
    chosen: list[Candidate]
    explanation: dict[str, Any]


def decision_weights(task: Task) -> tuple[dict[str, float], dict[str, Any]]:
    """Weights for the three objectives, normalised to sum 1, and where each layer came from."""
    sources: dict[str, Any] = {"settings": dict(settings.AMAS_DECISION_WEIGHTS)}
    weights = {k: float(settings.AMAS_DECISION_WEIGHTS.get(k, 0.0)) for k in OBJECTIVES}
    admin = decision_settings_current()
    if admin is not None and admin.weights():
        sources["admin"] = admin.weights()
        weights.update(admin.weights())
    override = (task.parameters or {}).get("decision_weights")
    if override is not None:
        if not isinstance(override, dict) or set(override) - set(OBJECTIVES):
            raise ValidationFailed(f"decision_weights takes numbers for {', '.join(OBJECTIVES)}.")
        try:
            cleaned = {k: float(v) for k, v in override.items()}
        except (TypeError, ValueError):
            raise ValidationFailed("decision_weights values must be numbers.") from None
        if any(v < 0 for v in cleaned.values()):
            raise ValidationFailed("decision_weights values must not be negative.")
        sources["task"] = cleaned
        weights.update(cleaned)
    total = sum(weights.values())
    if total <= 0:
        raise ValidationFailed("At least one decision weight must be positive.")
    return {k: v / total for k, v in weights.items()}, sources


def _candidates(types: list[str] | None) -> list[Candidate]:
    """Enabled configs of registered, non-aggregating agents (of `types`, when given); an agent type
    with no config row at all is a candidate with its defaults."""
    configs, configured_types = agent_configs_for_decision()
    by_type: dict[str, list[AgentConfig]] = {}
    for config in configs:
        by_type.setdefault(config.agent_type, []).append(config)
    found = []
    for agent_class in agent_registry.items():
        if agent_class.aggregator or (types is not None and agent_class.type not in types):
            continue
        if agent_class.type in configured_types:
            for config in by_type.get(agent_class.type, []):
                found.append(
                    Candidate(agent_class.type, agent_class, config, config.effective_capabilities())
                )
        else:
            found.append(Candidate(agent_class.type, agent_class, None, frozenset(agent_class.capabilities)))
    return found


def _load_history(candidates: list[Candidate], task_type: str, window: int, alpha: float) -> None:
    """Each candidate's latest outcomes (oldest first, so the EWMA ends on the latest); the cost of
    an outcome already counts the provider ledger's spend for its step."""
    history = agent_history().outcomes(
        task_type=task_type, keys=[(c.agent_type, c.config_id) for c in candidates], window=window
    )
    for candidate in candidates:
        rows: list[Outcome] = history[(candidate.agent_type, candidate.config_id)]
        candidate.successes = sum(1 for row in rows if row.status == SUCCESS)
        candidate.failures = len(rows) - candidate.successes
        latency = None
        for row in rows:
            ms = row.processing_time_ms
            latency = float(ms) if latency is None else alpha * ms + (1 - alpha) * latency
        candidate.latency_ms = latency
        candidate.mean_cost = statistics.fmean(row.cost for row in rows) if rows else None


def _load_running(candidates: list[Candidate]) -> None:
    """Running steps per config from Postgres, and live slots from Redis; the larger counts."""
    config_ids = [c.config_id for c in candidates if c.config_id is not None]
    if not config_ids:  # agents run with their defaults have no limit to count against
        return
    running = agent_history().running_steps(config_ids=config_ids)
    slots = agent_slots_in_use_many(config_ids)
    for candidate in candidates:
        if candidate.config_id is not None:
            candidate.running = max(running.get(candidate.config_id, 0), slots.get(candidate.config_id, 0))


def _relative(values: dict[int, float | None], smoothing: float) -> dict[int, float]:
    """Lower is better: best / value. An unknown value counts as the best known one (optimism in
    the face of uncertainty), so an agent nobody has tried yet gets tried."""
    known = [v for v in values.values() if v is not None]
    if not known:
        return dict.fromkeys(values, 1.0)
    best = min(known)
    return {k: 1.0 if v is None else (best + smoothing) / (v + smoothing) for k, v in values.items()}


def _score(candidates: list[Candidate], weights: dict[str, float], explore: bool, rng: random.Random) -> None:
    latency = _relative({i: c.latency_ms for i, c in enumerate(candidates)}, LATENCY_SMOOTHING_MS)
    cost = _relative({i: c.mean_cost for i, c in enumerate(candidates)}, COST_SMOOTHING)
    for i, candidate in enumerate(candidates):
        a, b = 1 + candidate.successes, 1 + candidate.failures
        candidate.sampled_success = rng.betavariate(a, b) if explore else a / (a + b)
        load = min(1.0, candidate.running / candidate.limit) if candidate.limit else 0.0
        candidate.scores = {
            "reliability": candidate.sampled_success,
            "performance": latency[i],
            "cost": cost[i],
            "load": load,
        }
        candidate.total = sum(weights[k] * candidate.scores[k] for k in OBJECTIVES) - LOAD_PENALTY * load


def _check_eligible(candidate: Candidate, task: Task, kinds: set[str], requested: bool) -> None:
    agent = candidate.agent_class
    if Classification.rank(candidate.max_classification) < Classification.rank(task.classification):
        candidate.eligible = False
        candidate.reason = (
            f"may receive up to TLP:{candidate.max_classification.upper()}, "
            f"the task is TLP:{task.classification.upper()}"
        )
    elif requested:
        candidate.reason = "requested by the user"
    elif task.task_type not in agent.task_types:
        candidate.eligible = False
        candidate.reason = f"does not take {task.task_type} tasks"
    elif not accepts_target(frozenset(agent.target_kinds), kinds):
        candidate.eligible = False
        candidate.reason = f"does not take {'/'.join(sorted(kinds))} targets"


def _offers(candidate: Candidate, by_type: bool) -> set[str]:
    if by_type:
        return {candidate.agent_type}
    return set(candidate.capabilities) or {candidate.agent_type}


def _select(eligible: list[Candidate], by_type: bool) -> None:
    """Best first; a candidate runs if it adds a capability (for requested agents: an agent type)
    that nobody chosen before it covers. At-limit candidates run only when nothing else fits."""
    free = [c for c in eligible if not c.saturated]
    pool = free or eligible
    for candidate in eligible:
        if candidate.saturated and free:
            candidate.reason = f"at its concurrency limit ({candidate.running}/{candidate.limit})"
    covered: set[str] = set()
    chosen: list[Candidate] = []
    for candidate in sorted(pool, key=lambda c: c.total, reverse=True):
        offers = _offers(candidate, by_type)
        new = offers - covered
        if new:
            candidate.chosen = True
            if not chosen:
                candidate.reason = f"highest total {candidate.total:.3f}"
            else:
                candidate.reason = f"adds {', '.join(sorted(new))} (total {candidate.total:.3f})"
            if by_type:
                candidate.reason += ", requested by the user"
            if not free:
                candidate.reason += "; every candidate is at its limit, so it waits for a slot"
            covered |= offers
            chosen.append(candidate)
        else:
            winner = next(c for c in chosen if _offers(c, by_type) & offers)
            candidate.reason = (
                f"{winner.name} offers the same and scored higher "
                f"({winner.total:.3f} > {candidate.total:.3f})"
            )


def decide(task: Task, *, rng: random.Random | None = None) -> Decision:
    rng = rng or _rng
    weights, sources = decision_weights(task)
    admin = decision_settings_current()
    explore = admin.explore if admin is not None else True
    requested = list(dict.fromkeys(task.requested_agents or []))
    for agent_type in requested:
        if agent_type not in agent_registry:
            raise ValidationFailed(f"Unknown agent {agent_type!r}.", extra={"agent": agent_type})
        if agent_registry.get(agent_type).aggregator:
            raise ValidationFailed(f"Agent {agent_type!r} aggregates results and runs on its own.")
    candidates = _candidates(requested or None)
    kinds = task_target_kinds(task)
    for candidate in candidates:
        _check_eligible(candidate, task, kinds, bool(requested))
    eligible = [c for c in candidates if c.eligible]
    for agent_type in requested:
        if not any(c.agent_type == agent_type for c in eligible):
            why = next((c.reason for c in candidates if c.agent_type == agent_type), "it is disabled")
            raise ValidationFailed(
                f"Agent {agent_type!r} cannot run this task: {why}.", extra={"agent": agent_type}
            )
    if not eligible:
        raise ValidationFailed(
            f"No enabled agent takes {task.task_type} tasks on a {parse_target(task.target).kind} target "
            f"at TLP:{task.classification.upper()}."
        )
    window = settings.AMAS_DECISION_WINDOW
    _load_history(eligible, task.task_type, window, settings.AMAS_DECISION_EWMA_ALPHA)
    _load_running(eligible)
    _score(eligible, weights, explore, rng)
    _select(eligible, by_type=bool(requested))
    chosen = sorted((c for c in eligible if c.chosen), key=lambda c: c.total, reverse=True)
    if requested:  # the user's order
        chosen.sort(key=lambda c: requested.index(c.agent_type))
    explanation = {
        "rule": "decision-engine",
        "weights": {k: round(v, 4) for k, v in weights.items()},
        "weight_sources": sources,
        "explore": explore,
        "task_type": task.task_type,
        "target_kinds": sorted(kinds),
        "classification": task.classification,
        "requested": requested,
        "chosen": [c.name for c in chosen],
        "candidates": [c.explain() for c in sorted(candidates, key=lambda c: (not c.chosen, -c.total))],
    }
    return Decision(chosen=chosen, explanation=explanation)
