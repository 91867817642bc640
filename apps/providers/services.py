"""Writes of the providers app: the ledger, health checks, provider keys."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.providers.adapters import adapter_for
from apps.providers.adapters.base import HealthResult
from apps.providers.adapters.ollama import has_model
from apps.providers.models import Provider, ProviderCall, ProviderKind

log = logging.getLogger("amas.providers")


def provider_call_record(
    *,
    operation: str,
    task: Any,
    step: Any,
    agent: str,
    user: Any,
    organization_id: int | None,
    provider: Provider | None,
    model: str,
    purpose: str,
    classification: str,
    tokens_in: int,
    tokens_out: int,
    cost: Decimal,
    latency_ms: int,
    outcome: str,
    error: str,
    attempts: list[dict[str, Any]],
    provider_name: str = "",
) -> ProviderCall | None:
    """One ledger row per router call.

    Inside a caller's transaction the row is saved in it (the transaction decides about it).
    Outside one, it is handed to this process's bookkeeping writer (apps.providers.bookkeeping:
    written behind the call, batched, within milliseconds; None is returned) or, when its queue
    is full, inserted here. Either way the INSERT commits with synchronous_commit off: Postgres
    still writes it atomically and in order, it only stops waiting for the WAL flush (a crash of
    the database server, not of AMAS, can lose the last few hundred milliseconds of ledger rows,
    never corrupt them)."""
    fields = {
        "operation": operation,
        "task_id": getattr(task, "pk", None),
        "step_id": getattr(step, "pk", None),
        "agent": agent[:64],
        "user_id": getattr(user, "pk", None),
        "organization_id": organization_id,
        "provider_id": provider.pk if provider else None,
        "provider_name": (provider.name if provider else provider_name)[:100],
        "model": model[:200],
        "purpose": purpose[:64],
        "classification": classification,
        "tokens_in": max(0, tokens_in),
        "tokens_out": max(0, tokens_out),
        "cost": cost,
        "latency_ms": max(0, latency_ms),
        "outcome": outcome,
        "error": error,
        "attempts": attempts,
    }
    if connection.in_atomic_block:  # the caller's transaction decides about durability
        row = ProviderCall(**fields)
        row.save(force_insert=True)
        return row
    fields["created_at"] = timezone.now()
    from apps.providers import bookkeeping

    if bookkeeping.defer_row(fields):
        return None
    row = ProviderCall(**fields)
    row.pk = provider_calls_insert([fields])[0]
    row._state.adding = False
    return row


def provider_calls_insert(rows: list[dict[str, Any]]) -> list[int]:
    """Ledger rows (ProviderCall field values by attname) in one INSERT that commits with
    synchronous_commit off, then their metrics in one Redis round trip (what post_save of a saved
    row records). Returns their ids, in order.

    One statement text whatever the number of rows: each column is sent as one array and the rows
    come out of `unnest`, so the driver parses the statement once per process (a VALUES list with
    a placeholder per value was re-parsed for every batch size) and no model instance or per-value
    field preparation is made: the row dicts hold plain values (see provider_call_record)."""
    from types import SimpleNamespace

    from apps.providers import observability

    one_sql, sql, columns = _ledger_insert_sql()
    now = timezone.now()
    params: list[Any] = []
    for name, default, is_json in columns:
        values = [row.get(name, default) for row in rows]
        if name == "created_at":
            values = [now if v is None else v for v in values]
        elif is_json:
            values = [json.dumps(v) for v in values]
        params.append(values)
    if len(rows) == 1:  # scalars: dumping 19 one-element arrays costs more than the row itself
        sql, params = one_sql, [values[0] for values in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [r[0] for r in cursor.fetchall()]
    observability.ledger_metrics(SimpleNamespace(**row) for row in rows)
    return ids


_ledger_sql: tuple[str, str, list[tuple[str, Any, bool]]] | None = None


def _ledger_insert_sql() -> tuple[str, str, list[tuple[str, Any, bool]]]:
    """The ledger's INSERTs of one row and of many (... SELECT FROM unnest(...)) and its columns
    (attname, default, JSON?), built once per process from the model."""
    global _ledger_sql
    if _ledger_sql is None:
        from django.db import models

        quote = connection.ops.quote_name
        fields = [f for f in ProviderCall._meta.concrete_fields if not f.primary_key]
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        names = ", ".join(quote(f.column) for f in fields)
        aliases = ", ".join(f"c{i}" for i in range(len(fields)))
        select = ", ".join(
            f"c{i}::jsonb" if isinstance(f, models.JSONField) else f"c{i}" for i, f in enumerate(fields)
        )
        sql = (
            f"INSERT INTO {quote(ProviderCall._meta.db_table)} ({names}) "  # noqa: S608 - names from the model
            f"SELECT {select} FROM unnest({arrays.replace('jsonb[]', 'text[]')}) AS rows ({aliases}), "
            # set_config(..., true): for this statement's own transaction (autocommit), one round trip
            "(SELECT set_config('synchronous_commit', 'off', true)) AS durability RETURNING id"
        )
        scalars = ", ".join(
            f"%s::{'text' if isinstance(f, models.JSONField) else f.db_type(connection)}" for f in fields
        )
        one_sql = (
            f"INSERT INTO {quote(ProviderCall._meta.db_table)} ({names}) "  # noqa: S608 - as above
            f"SELECT {select} FROM (SELECT {scalars}) AS rows ({aliases}), "
            "(SELECT set_config('synchronous_commit', 'off', true)) AS durability RETURNING id"
        )
        columns = [
            (f.attname, f.get_default() if f.has_default() else None, isinstance(f, models.JSONField))
            for f in fields
        ]
        _ledger_sql = (one_sql, sql, columns)
    return _ledger_sql


def provider_health_check(*, provider: Provider) -> HealthResult:
    """A cheap call (the vendor's model list) recorded on the provider row. A local Ollama preset
    switches itself on when it answers and has its model pulled."""
    result = adapter_for(provider).health()
    now = timezone.now()
    provider.last_health_at = now
    provider.last_health_ok = result.ok
    provider.last_health_latency_ms = result.latency_ms
    fields = ["last_health_at", "last_health_ok", "last_health_latency_ms", "updated_at"]
    if result.ok:  # the health call is the vendor's model list: keep it (retired models show up)
        provider.listed_models = sorted(result.models)
        provider.models_listed_at = now
        fields += ["listed_models", "models_listed_at"]
    if result.ok and provider.kind == ProviderKind.OLLAMA and not has_model(result.models, provider.model):
        result.ok = False
        available = ", ".join(result.models) or "-"
        result.message = f"reachable, but model {provider.model!r} is not pulled (available: {available})"
        provider.last_health_ok = False
    if not result.ok:
        provider.last_error = result.message
        provider.last_error_at = now
        fields += ["last_error", "last_error_at"]
    elif provider.auto_enable and not provider.enabled:
        provider.enabled = True
        fields.append("enabled")
        log.info("provider %s answered its health check: enabled automatically", provider.name)
    provider.save(update_fields=fields)
    return result


def provider_health_check_all() -> dict[str, bool]:
    """Check every enabled provider and every one waiting to switch itself on."""
    results = {}
    for provider in Provider.objects.filter(enabled=True) | Provider.objects.filter(auto_enable=True):
        results[provider.name] = provider_health_check(provider=provider).ok
    return results


def provider_set_api_key(*, provider: Provider, api_key: str) -> Provider:
    provider.api_key = api_key
    provider.save(update_fields=["api_key", "updated_at"])
    return provider


def provider_breaker_reset(*, provider: Provider) -> None:
    """Close the circuit by hand (an admin fixed the key or the vendor recovered)."""
    from apps.providers import breaker

    breaker.reset(provider.id)


def provider_set_enabled(*, provider: Provider, enabled: bool) -> Provider:
    provider.enabled = enabled
    provider.save(update_fields=["enabled", "updated_at"])
    return provider
