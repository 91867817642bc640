"""Budgets: before a paid call the router reserves its expected cost against every budget that
applies (per task, per user per day, per organisation per day); the reservation is refused when a
budget would be exceeded, and reconciled with the real cost afterwards.

Counters live in Redis (micro-USD integers, shared by every process). A missing counter (expired,
or Redis was flushed) is rebuilt from the ledger before use, so Redis is a cache of spend, the
ledger the record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from apps.providers import redis_client
from apps.providers.errors import BudgetExceeded
from apps.providers.models import Budget, BudgetScope, ProviderCall

MICRO = 1_000_000
_ROW_TTL = 5.0

# Refuse if any counter would pass its limit; otherwise add the amount to all of them. A missing
# counter (expired, Redis flushed) comes back as -i, nothing taken: the caller rebuilds it from the
# ledger and asks again (so the usual reservation is one round trip).
_RESERVE = """
local amount = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 0 then return -i end
end
for i, k in ipairs(KEYS) do
  local current = tonumber(redis.call('GET', k) or '0')
  if current + amount > tonumber(ARGV[i + 1]) then return i end
end
for i, k in ipairs(KEYS) do
  redis.call('INCRBY', k, amount)
  redis.call('EXPIRE', k, tonumber(ARGV[#KEYS + 1 + i]))
end
return 0
"""


@dataclass(frozen=True)
class BudgetLimit:
    scope: str
    counter: str  # Redis key
    limit_micro: int
    ttl: int
    label: str
    ledger_filter: dict[str, Any]


@dataclass
class Reservation:
    limits: list[BudgetLimit] = field(default_factory=list)
    amount_micro: int = 0

    def reconcile(self, actual_cost: float | Decimal) -> None:
        """Replace the reserved amount by what the call really cost."""
        delta = to_micro(actual_cost) - self.amount_micro
        self._adjust(delta)

    def settle(self, actual_cost: float | Decimal) -> tuple[list[str], int]:
        """(counter keys, micro-USD delta) for the caller to apply in its own round trip (the
        router's outcome script); the reservation counts as reconciled afterwards."""
        delta = to_micro(actual_cost) - self.amount_micro
        self.amount_micro = 0
        return [limit.counter for limit in self.limits], delta

    def release(self) -> None:
        """The call did not happen (or failed before being billed)."""
        self._adjust(-self.amount_micro)

    def _adjust(self, delta: int) -> None:
        if not self.limits or not delta:
            self.amount_micro = 0
            return
        pipe = redis_client.client().pipeline(transaction=False)
        for limit in self.limits:
            pipe.incrby(limit.counter, delta)
        pipe.execute()
        self.amount_micro = 0


def to_micro(cost: float | Decimal) -> int:
    return int((Decimal(str(cost)) * MICRO).to_integral_value())


_rows_cache: tuple[float, list[Budget]] | None = None


def clear_cache(**_: object) -> None:
    global _rows_cache
    _rows_cache = None


def _rows() -> list[Budget]:
    global _rows_cache
    now = time.monotonic()
    if _rows_cache is None or now - _rows_cache[0] > _ROW_TTL:
        _rows_cache = (now, list(Budget.objects.filter(enabled=True)))
    return _rows_cache[1]


def _limit_for(scope: str, *, organization_id: int | None, user_id: int | None) -> Decimal:
    rows = [r for r in _rows() if r.scope == scope]
    for row in rows:
        if user_id and row.user_id == user_id:
            return row.limit_usd
    for row in rows:
        if organization_id and row.organization_id == organization_id and row.user_id is None:
            return row.limit_usd
    for row in rows:
        if row.organization_id is None and row.user_id is None:
            return row.limit_usd
    default = {
        BudgetScope.PER_TASK: settings.AMAS_BUDGET_PER_TASK_USD,
        BudgetScope.PER_USER_DAY: settings.AMAS_BUDGET_PER_USER_DAY_USD,
        BudgetScope.PER_DAY: settings.AMAS_BUDGET_PER_DAY_USD,
    }[BudgetScope(scope)]
    return Decimal(str(default))


def applicable_limits(
    *, task_id: Any = None, user_id: int | None = None, organization_id: int | None = None
) -> list[BudgetLimit]:
    today = datetime.now(UTC).date()
    day_start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    limits: list[BudgetLimit] = []

    def add(scope: str, counter: str, ttl: int, label: str, ledger_filter: dict[str, Any]) -> None:
        limit = _limit_for(scope, organization_id=organization_id, user_id=user_id)
        if limit > 0:
            limits.append(
                BudgetLimit(scope, counter, to_micro(limit), ttl, f"{label} (${limit})", ledger_filter)
            )

    if task_id:
        add(
            BudgetScope.PER_TASK,
            redis_client.key("budget", "task", task_id),
            7 * 86400,
            f"the per-task budget of task {task_id}",
            {"task_id": task_id},
        )
    if user_id:
        add(
            BudgetScope.PER_USER_DAY,
            redis_client.key("budget", "user", user_id, today.isoformat()),
            2 * 86400,
            "your daily budget",
            {"user_id": user_id, "created_at__gte": day_start},
        )
    org_part = organization_id or "all"
    org_filter: dict[str, Any] = {
        "created_at__gte": day_start,
        "created_at__lt": day_start + timedelta(days=1),
    }
    if organization_id:
        org_filter["organization_id"] = organization_id
    add(
        BudgetScope.PER_DAY,
        redis_client.key("budget", "day", org_part, today.isoformat()),
        2 * 86400,
        "the organisation's daily budget" if organization_id else "the daily budget",
        org_filter,
    )
    return limits


def _backfill(limits: list[BudgetLimit]) -> None:
    """Counters that are missing in Redis are rebuilt from the ledger (SET NX: first one wins)."""
    conn = redis_client.client()
    exists = conn.pipeline(transaction=False)
    for limit in limits:
        exists.exists(limit.counter)
    for limit, present in zip(limits, exists.execute(), strict=True):
        if not present:
            # The ledger manager flushes this process's queued rows first; another process's
            # (queued for milliseconds) are missed as its calls in flight are.
            spent = ProviderCall.objects.filter(**limit.ledger_filter).aggregate(total=Sum("cost"))["total"]
            conn.set(limit.counter, to_micro(spent or 0), nx=True, ex=limit.ttl)


def reserve(*, limits: list[BudgetLimit], expected_cost: float) -> Reservation:
    """Reserve `expected_cost` against all `limits` at once, or raise BudgetExceeded."""
    amount = to_micro(expected_cost)
    if not limits or amount <= 0:
        return Reservation()
    script = redis_client.script(_RESERVE)
    for _ in range(3):  # a counter can expire between the backfill and the retry; rare
        refused = int(
            script(
                keys=[limit.counter for limit in limits],
                args=[amount, *[limit.limit_micro for limit in limits], *[limit.ttl for limit in limits]],
            )
        )
        if refused >= 0:
            break
        _backfill(limits)
    else:
        raise BudgetExceeded("Refused before calling the provider: the budget counters are unavailable.")
    if refused:
        limit = limits[refused - 1]
        raise BudgetExceeded(
            f"Refused before calling the provider: the expected cost ${expected_cost:.6f} would exceed "
            f"{limit.label}.",
            extra={"budget": limit.scope},
        )
    return Reservation(limits=limits, amount_micro=amount)


def spent(limit: BudgetLimit) -> Decimal:
    from apps.providers import bookkeeping

    bookkeeping.flush()  # refunds this process queued behind its calls are counted first
    value = redis_client.client().get(limit.counter)
    return Decimal(int(value or 0)) / MICRO
