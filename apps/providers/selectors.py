"""Reads of the providers app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from apps.core.exceptions import NotFound
from apps.providers import bookkeeping, breaker, stats
from apps.providers.models import CallOutcome, Provider, ProviderCall


def provider_list() -> QuerySet[Provider]:
    return Provider.objects.order_by("priority", "name")


def provider_get(*, provider_id: int) -> Provider:
    try:
        return Provider.objects.get(pk=provider_id)
    except Provider.DoesNotExist:
        raise NotFound(f"No provider {provider_id}.") from None


@dataclass
class ProviderOverview:
    provider: Provider
    breaker_state: str
    breaker_failures: int
    breaker_last_error: str
    breaker_cooldown_remaining: float
    success_rate: float | None
    ewma_latency_ms: float | None
    calls_24h: int
    mean_latency_ms_24h: float | None
    cost_24h: Decimal
    cost_total: Decimal
    tokens_in_total: int
    tokens_out_total: int


def provider_overview(
    *, organization_id: int | None = None, all_organizations: bool = False
) -> list[ProviderOverview]:
    """Every provider with its live state (breaker, recent success and latency from Redis) and its
    ledger totals; totals cover one organisation unless `all_organizations`."""
    providers = list(provider_list())
    ids = [p.id for p in providers]
    bookkeeping.flush()  # the outcomes this process wrote behind its calls, for the live state
    breakers = breaker.states(ids)
    live = stats.read(ids)
    calls = ProviderCall.objects.filter(provider_id__in=ids)
    if not all_organizations:
        # No organisation: the calls made outside any (what `exact=None` means).
        calls = (
            calls.filter(organization_id=organization_id)
            if organization_id is not None
            else calls.filter(organization__isnull=True)
        )
    since = timezone.now() - timedelta(hours=24)
    recent = Q(created_at__gte=since)
    ok = Q(outcome=CallOutcome.OK)
    totals: dict[int, dict[str, Any]] = {
        row["provider_id"]: row
        for row in calls.values("provider_id").annotate(
            calls_24h=Count("id", filter=recent),
            mean_latency=Avg("latency_ms", filter=recent & ok),
            cost_24h=Sum("cost", filter=recent),
            cost_total=Sum("cost"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
        )
    }
    out = []
    for provider in providers:
        row = totals.get(provider.id, {})
        state = breakers[provider.id]
        out.append(
            ProviderOverview(
                provider=provider,
                breaker_state=state.state,
                breaker_failures=state.failures,
                breaker_last_error=state.last_error,
                breaker_cooldown_remaining=state.cooldown_remaining,
                success_rate=live[provider.id].success_rate,
                ewma_latency_ms=live[provider.id].latency_ms,
                calls_24h=row.get("calls_24h") or 0,
                mean_latency_ms_24h=row.get("mean_latency"),
                cost_24h=row.get("cost_24h") or Decimal(0),
                cost_total=row.get("cost_total") or Decimal(0),
                tokens_in_total=row.get("tokens_in") or 0,
                tokens_out_total=row.get("tokens_out") or 0,
            )
        )
    return out


def provider_calls_for_task(*, task: Any) -> QuerySet[ProviderCall]:
    """The ledger rows of one task, oldest first."""
    return ProviderCall.objects.filter(task=task).select_related("provider").order_by("created_at")


def provider_spend_by_step(*, step_ids: list[int]) -> dict[int, float]:
    """The provider ledger's spend per task step (steps without calls are absent)."""
    if not step_ids:
        return {}
    calls = ProviderCall.objects.filter(step_id__in=step_ids)
    totals = calls.values("step_id").annotate(total=Sum("cost"))
    return {row["step_id"]: float(row["total"]) for row in totals}
