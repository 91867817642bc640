"""Who wrote what, and what it cost, on every Result: the figures come from the ledger
(ProviderCall rows of the step), not from what the agent remembered to add up, so a Result's
tokens and cost always equal the ledger's, and every generated text is attributed to a
provider and model (the built-in offline provider included)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum

from apps.providers.models import ProviderCall

log = logging.getLogger("amas.providers")

# Step ids this process made (or queued) router calls for, until the result hook consumes them.
# Most steps make no router call; the hook used to ask the ledger for every step (an EXISTS plus
# the bookkeeping flush: ~14 % of a no-op step's CPU). It now asks only when the answer may be yes:
# - this process noted a call for the step (router._record notes it BEFORE the row is written or
#   queued, from whichever thread the call ran on: threads an agent starts included, since they
#   share this dict; a call that returns before the agent does is noted before the hook runs);
# - the step is not on its first attempt (step.attempt > 1: a retry or re-delivery may have run
#   on another worker, whose rows this process never saw), or its task was retried (task.attempt
#   > 0: a task retry sets the step's attempt back to 0, and the earlier run's rows still count);
# - the record overflowed (see _note): from then on every step is asked about, as before.
# A claim lost in a Postgres crash (claims commit with synchronous_commit off): the step runs again
# with attempt 1, maybe elsewhere, and is not asked about. That is right because any ledger row of
# the lost run was committed after the claim's commit returned (calls come after the claim), and
# Postgres has one WAL stream for all connections (the bookkeeping thread's own connection
# included) whose records are replayed as a prefix: a surviving ledger row implies a surviving
# claim, so a lost claim means its rows are lost too (and a surviving claim makes the re-run
# attempt 2, which is asked about).
# Only dict operations the GIL makes atomic are used (no lock: a lock held at a fork would stay
# held in a prefork child). A noted call whose hook never runs here (lease lost, a thread still
# calling after the step finished) leaves an entry behind: the record is bounded by MAX_NOTED, and
# overflowing switches the shortcut off in this process rather than evicting (an evicted step would
# be skipped wrongly).
MAX_NOTED = 20_000
_noted: dict[int, None] = {}
_overflowed = False


def step_call_note(step_id: int) -> None:
    """Called by the router for every ledger row that carries a step, before writing it."""
    global _overflowed
    if _overflowed:
        return
    if len(_noted) >= MAX_NOTED:
        _overflowed = True  # set before the record is dropped: a concurrent hook sees one or the other
        _noted.clear()
        log.warning(
            "step attribution: more than %d steps noted; every step's ledger is now queried", MAX_NOTED
        )
        return
    _noted[step_id] = None


def _may_have_calls(result: Any) -> bool:
    """False only when no ledger row of the step can exist (see the comment above)."""
    noted = _noted.pop(result.step_id, False) is None  # consumed: the entry is not needed again
    if noted or _overflowed:
        return True
    model = type(result)
    if not (model.step.is_cached(result) and model.task.is_cached(result)):
        return True  # no attempt numbers at hand: ask the ledger
    return not (result.step.attempt == 1 and result.task.attempt == 0)


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
    if not _may_have_calls(result):
        return
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
