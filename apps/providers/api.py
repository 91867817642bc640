from http import HTTPStatus

from django.http import HttpRequest
from ninja import Router

from apps.core.api_errors import errors
from apps.providers.schemas import HealthOut, ProviderOut
from apps.providers.selectors import provider_get, provider_overview
from apps.providers.services import provider_health_check
from apps.users.permissions import require_scope

router = Router(tags=["providers"])


@router.get("/providers", response={HTTPStatus.OK: list[ProviderOut], **errors()})
def provider_list(request: HttpRequest) -> list[dict]:
    """AI providers with their circuit state, health and usage. Usage totals cover your
    organisation (superusers: everyone). API keys are never returned."""
    user = require_scope(request, "agents:read")
    rows = provider_overview(organization_id=user.organization_id, all_organizations=user.is_superuser)
    return [
        {
            "id": row.provider.id,
            "name": row.provider.name,
            "kind": row.provider.kind,
            "model": row.provider.model,
            "embedding_model": row.provider.embedding_model,
            "enabled": row.provider.enabled,
            "priority": row.provider.priority,
            "has_key": row.provider.has_key,
            "allowed_classifications": row.provider.allowed_classifications,
            "breaker_state": row.breaker_state,
            "breaker_failures": row.breaker_failures,
            "last_health_ok": row.provider.last_health_ok,
            "last_health_at": row.provider.last_health_at,
            "last_health_latency_ms": row.provider.last_health_latency_ms,
            "last_error": row.provider.last_error,
            "success_rate": row.success_rate,
            "mean_latency_ms": row.mean_latency_ms_24h
            if row.mean_latency_ms_24h is not None
            else row.ewma_latency_ms,
            "calls_24h": row.calls_24h,
            "cost_24h": row.cost_24h,
            "cost_total": row.cost_total,
            "tokens_in_total": row.tokens_in_total,
            "tokens_out_total": row.tokens_out_total,
        }
        for row in rows
    ]


@router.post("/providers/{provider_id}/health", response={HTTPStatus.OK: HealthOut, **errors(404, 422)})
def provider_health(request: HttpRequest, provider_id: int) -> dict:
    """Run the provider's health check now (admins only)."""
    require_scope(request, "admin")
    provider = provider_get(provider_id=provider_id)
    result = provider_health_check(provider=provider)
    return {
        "id": provider.id,
        "name": provider.name,
        "ok": result.ok,
        "message": result.message,
        "latency_ms": result.latency_ms,
        "enabled": provider.enabled,
    }
