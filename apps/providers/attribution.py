"""Who wrote what, and what it cost, on every Result: the figures come from the ledger
(ProviderCall rows of the step), not from what the agent remembered to add up, so a Result's
tokens and cost always equal the ledger's, and every generated text is attributed to a
provider and model (the built-in offline provider included)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum

from apps.providers.models import ProviderCall


def step_usage(step_id: int) -> dict[str, Any]:
    """The ledger's totals for one step, and one line per (operation, purpose, provider, model)."""
    rows = ProviderCall.objects.filter(step_id=step_id)
    totals = rows.aggregate(tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost"))
    by_writer = (
        rows.values("operation", "purpose", "provider_name", "model", "outcome")
        .annotate(calls=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
        .order_by("purpose", "provider_name")
    )
    return {
        "tokens_in": totals["tokens_in"] or 0,
        "tokens_out": totals["tokens_out"] or 0,
        "cost": totals["cost"] or Decimal(0),
        "generated_by": [
            {
                "operation": r["operation"],
                "purpose": r["purpose"],
                "provider": r["provider_name"] or "builtin",
                "model": r["model"],
                "outcome": r["outcome"],
                "calls": r["calls"],
                "tokens_in": r["tokens_in"] or 0,
                "tokens_out": r["tokens_out"] or 0,
            }
            for r in by_writer
        ],
    }


def result_usage_from_ledger(result: Any, agent_result: Any) -> None:
    """Result hook (inside the transaction that writes the Result). A step that made no router
    call keeps what its agent reported (an agent may pay a vendor AMAS does not route)."""
    if not ProviderCall.objects.filter(step_id=result.step_id).exists():
        return
    usage = step_usage(result.step_id)
    # Data is left as the agent wrote it (the step's event carries it; replay must match):
    # authorship goes into data through ctx.ai.generated_by() before the Result is written.
    fields = {"tokens_in": usage["tokens_in"], "tokens_out": usage["tokens_out"], "cost": usage["cost"]}
    type(result).objects.filter(pk=result.pk).update(**fields)
    for name, value in fields.items():
        setattr(result, name, value)
    agent_result.tokens_in, agent_result.tokens_out = usage["tokens_in"], usage["tokens_out"]
    agent_result.cost = float(usage["cost"])
