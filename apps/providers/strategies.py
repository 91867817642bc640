"""Routing strategies: each orders the candidate providers (allowed, enabled, not built-in; the
built-in provider is always appended last by the router). The router then walks the order,
skipping open circuits and limited providers, and falls back to the next one on failure."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.conf import settings

from apps.core.exceptions import ValidationFailed
from apps.providers import stats
from apps.providers.models import Provider

PRIORITY, ROUND_ROBIN, FASTEST, CHEAPEST, INTELLIGENT = (
    "priority",
    "round_robin",
    "fastest",
    "cheapest",
    "intelligent",
)


def expected_cost(provider: Provider, *, tokens_in: int, tokens_out: int) -> Decimal:
    return (
        Decimal(tokens_in) * provider.cost_per_1k_input + Decimal(tokens_out) * provider.cost_per_1k_output
    ) / 1000


def _by_priority(providers: list[Provider]) -> list[Provider]:
    return sorted(providers, key=lambda p: (p.priority, p.name))


def priority(providers: list[Provider], **_: object) -> list[Provider]:
    return _by_priority(providers)


def round_robin(providers: list[Provider], *, scope: str = "generate", **_: object) -> list[Provider]:
    ordered = _by_priority(providers)
    if len(ordered) < 2:
        return ordered
    start = stats.next_turn(scope) % len(ordered)
    return ordered[start:] + ordered[:start]


def fastest(providers: list[Provider], **_: object) -> list[Provider]:
    """Lowest EWMA latency first; providers without samples go first so they get measured."""
    ordered = _by_priority(providers)
    known = stats.read([p.id for p in ordered])
    rank = {p.id: i for i, p in enumerate(ordered)}
    return sorted(ordered, key=lambda p: (known[p.id].latency_ms or 0.0, rank[p.id]))


def cheapest(
    providers: list[Provider], *, tokens_in: int = 0, tokens_out: int = 0, **_: object
) -> list[Provider]:
    ordered = _by_priority(providers)
    rank = {p.id: i for i, p in enumerate(ordered)}
    return sorted(
        ordered, key=lambda p: (expected_cost(p, tokens_in=tokens_in, tokens_out=tokens_out), rank[p.id])
    )


def intelligent(
    providers: list[Provider], *, tokens_in: int = 0, tokens_out: int = 0, **_: object
) -> list[Provider]:
    """Highest score first: success rate, speed and cheapness, each in 0..1, weighted by
    AMAS_PROVIDER_INTELLIGENT_WEIGHTS. Unmeasured providers get the benefit of the doubt."""
    ordered = _by_priority(providers)
    if len(ordered) < 2:
        return ordered
    weights = settings.AMAS_PROVIDER_INTELLIGENT_WEIGHTS
    known = stats.read([p.id for p in ordered])
    latencies = [s.latency_ms for s in known.values() if s.latency_ms is not None]
    typical = sum(latencies) / len(latencies) if latencies else 0.0
    slowest = max(latencies, default=0.0)
    costs = {p.id: float(expected_cost(p, tokens_in=tokens_in, tokens_out=tokens_out)) for p in ordered}
    dearest = max(costs.values(), default=0.0)
    rank = {p.id: i for i, p in enumerate(ordered)}

    def score(p: Provider) -> float:
        s = known[p.id]
        success = s.success_rate if s.success_rate is not None else 1.0
        latency = s.latency_ms if s.latency_ms is not None else typical
        speed = 1.0 - (latency / slowest) if slowest > 0 else 1.0
        cheapness = 1.0 - (costs[p.id] / dearest) if dearest > 0 else 1.0
        return (
            float(weights.get("success", 0.5)) * success
            + float(weights.get("latency", 0.3)) * speed
            + float(weights.get("cost", 0.2)) * cheapness
        )

    return sorted(ordered, key=lambda p: (-score(p), rank[p.id]))


STRATEGIES: dict[str, Callable[..., list[Provider]]] = {
    PRIORITY: priority,
    ROUND_ROBIN: round_robin,
    FASTEST: fastest,
    CHEAPEST: cheapest,
    INTELLIGENT: intelligent,
}


def resolve(strategy: str | None, *, agent: str = "") -> str:
    """The call's strategy, else the agent type's (AMAS_PROVIDER_AGENT_STRATEGIES), else global."""
    chosen = (
        strategy
        or (settings.AMAS_PROVIDER_AGENT_STRATEGIES or {}).get(agent)
        or settings.AMAS_PROVIDER_STRATEGY
    )
    chosen = chosen.replace("-", "_")
    if chosen not in STRATEGIES:
        raise ValidationFailed(f"Unknown routing strategy {chosen!r}; use one of {', '.join(STRATEGIES)}.")
    return chosen
