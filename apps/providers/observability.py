"""What the providers app tells operations: a metric per router call (from the ledger), the circuit
breaker gauge and the "providers" node of the service health graph. Registered with core in
ProvidersConfig.ready(); core knows none of it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.core import metrics, service_health


def provider_call_record(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save of ProviderCall: the ledger row is the record of a router call."""
    if created:
        ledger_metrics([instance])


def ledger_metrics(calls: Iterable[Any]) -> None:
    """The metrics of ledger rows, in one Redis round trip (rows inserted in bulk by
    services.provider_calls_insert send no post_save)."""
    batches: list[list[tuple[str, str, float]]] = []
    for call in calls:
        provider = call.provider_name or "-"
        batches.append(metrics.PROVIDER_CALLS.increments(provider=provider, status=call.outcome))
        if call.latency_ms:
            batches.append(metrics.PROVIDER_LATENCY.observations(call.latency_ms / 1000.0, provider=provider))
        if call.outcome == "error":
            batches.append(metrics.PROVIDER_ERRORS.increments(provider=provider))
        if call.cost:
            batches.append(metrics.PROVIDER_COST.increments(float(call.cost), provider=provider))
        if call.tokens_in:
            batches.append(
                metrics.PROVIDER_TOKENS.increments(call.tokens_in, provider=provider, direction="in")
            )
        if call.tokens_out:
            batches.append(
                metrics.PROVIDER_TOKENS.increments(call.tokens_out, provider=provider, direction="out")
            )
        if call.outcome == "ok" and _fell_back(call.attempts, provider):
            batches.append(metrics.PROVIDER_FALLBACKS.increments(provider=provider))
    if batches:  # one HINCRBYFLOAT per counter field, not one per row (a batch of rows repeats them)
        summed: dict[tuple[str, str], float] = {}
        for batch in batches:
            for key, name, amount in batch:
                summed[key, name] = summed.get((key, name), 0.0) + amount
        metrics.record([(key, name, amount) for (key, name), amount in summed.items()])


def _fell_back(attempts: Any, answered_by: str) -> bool:
    """Whether another provider was tried before the one that answered (the ledger's attempts list
    holds one entry per provider tried, each naming it)."""
    if not isinstance(attempts, list):
        return False
    tried: list[str] = []
    for attempt in attempts:
        if isinstance(attempt, dict):
            name = attempt.get("provider") or attempt.get("provider_name") or attempt.get("name")
            if name and name not in tried:
                tried.append(str(name))
    return len(tried) > 1 or (len(tried) == 1 and tried[0] != answered_by)


def breaker_gauges() -> Iterable[Metric]:
    """Circuit breaker per enabled provider, as apps.providers.breaker keeps it in Redis."""
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


def check_providers() -> tuple[str, dict[str, Any]]:
    """Enabled AI providers and their last health check (the providers app records it)."""
    from apps.providers.selectors import provider_list

    rows = list(
        provider_list()
        .filter(enabled=True)
        .values("name", "kind", "last_health_ok", "last_health_at", "last_error")
    )
    if not rows:
        raise RuntimeError("no AI provider is enabled")
    stale = timezone.now() - timedelta(seconds=settings.AMAS_HEALTH_PROVIDER_MAX_AGE)
    providers = {
        r["name"]: {
            "kind": r["kind"],
            "ok": r["last_health_ok"],
            "checked_at": r["last_health_at"].isoformat() if r["last_health_at"] else None,
            "stale": bool(r["last_health_at"] and r["last_health_at"] < stale),
            "error": r["last_error"][:200] if r["last_health_ok"] is False else "",
        }
        for r in rows
    }
    failing = [name for name, p in providers.items() if p["ok"] is False]
    info = {"providers": providers}
    if len(failing) == len(providers):
        raise RuntimeError(f"every enabled provider failed its last check: {', '.join(failing)}")
    if failing:
        detail = f"{len(failing)} of {len(providers)} failing: {', '.join(failing)}"
        raise service_health.Degraded(detail, info)
    return f"{len(providers)} enabled", info


def register() -> None:
    from django.db.models.signals import post_save

    from apps.providers.models import ProviderCall

    post_save.connect(provider_call_record, sender=ProviderCall, dispatch_uid="amas-metrics-ledger")
    metrics.register_gauge_source(breaker_gauges)
    service_health.register_node(
        service_health.Node("providers", "AI providers", ("postgres",), check_providers, critical=False)
    )
