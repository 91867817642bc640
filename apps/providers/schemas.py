from datetime import datetime
from decimal import Decimal

from ninja import Schema


class ProviderOut(Schema):
    """A provider as the API shows it. There is deliberately no key field, not even a masked one."""

    id: int
    name: str
    kind: str
    model: str
    embedding_model: str
    enabled: bool
    priority: int
    has_key: bool
    allowed_classifications: list[str]
    breaker_state: str
    breaker_failures: int
    last_health_ok: bool | None
    last_health_at: datetime | None
    last_health_latency_ms: int | None
    last_error: str
    success_rate: float | None
    mean_latency_ms: float | None
    calls_24h: int
    cost_24h: Decimal
    cost_total: Decimal
    tokens_in_total: int
    tokens_out_total: int


class HealthOut(Schema):
    id: int
    name: str
    ok: bool
    message: str
    latency_ms: int
    enabled: bool
