from datetime import datetime
from uuid import UUID

from ninja import Field, Schema
from pydantic import StrictBool

from apps.core.vocabulary import TLPLevel

ClassificationLiteral = TLPLevel


class EndpointIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    url: str = Field(..., min_length=1, max_length=2048)
    event_types: list[str] = Field(..., min_length=1, max_length=50)
    secret: str = Field("", max_length=200, description="Empty: AMAS generates one (shown once).")
    max_classification: ClassificationLiteral = "amber"
    active: StrictBool = True


class EndpointPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    url: str | None = Field(None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(None, min_length=1, max_length=50)
    max_classification: ClassificationLiteral | None = None
    active: StrictBool | None = None


class EndpointOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    max_classification: str
    active: bool
    consecutive_failures: int
    total_failures: int
    total_successes: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str
    created_at: datetime


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(..., description="Shown only now; store it to verify signatures.")


class AttemptOut(Schema):
    number: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    ok: bool
    response_excerpt: str
    error: str
    next_retry_at: datetime | None


class DeliveryOut(Schema):
    id: UUID
    endpoint_id: int
    event_id: str
    event_type: str
    task_id: UUID | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    replay_of_id: UUID | None
    created_at: datetime


class DeliveryDetailOut(DeliveryOut):
    body: str
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_attempt_log(obj: object) -> list:
        return list(obj.attempt_log.all())  # type: ignore[attr-defined]
