from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import StrictBool

from apps.core.vocabulary import TLPLevel
from apps.eventsinks.services import url_redacted

KindLiteral = Literal["amqp", "kafka"]


class SinkIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    kind: KindLiteral = "amqp"
    url: str = Field(
        ...,
        min_length=1,
        max_length=2048,
        description="amqp://user:password@host:5672/vhost or kafka://[user:password@]host:9092 (kafkas:// "
        "for TLS). Stored encrypted; answers show it with the password replaced by ***.",
    )
    exchange: str = Field(
        "amas.events", min_length=1, max_length=200, description="AMQP exchange or Kafka topic."
    )
    event_types: list[str] = Field(..., min_length=1, max_length=50)
    max_classification: TLPLevel = "amber"
    active: StrictBool = True


class SinkPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    url: str | None = Field(None, min_length=1, max_length=2048)
    exchange: str | None = Field(None, min_length=1, max_length=200)
    event_types: list[str] | None = Field(None, min_length=1, max_length=50)
    max_classification: TLPLevel | None = None
    active: StrictBool | None = None


class SinkOut(Schema):
    id: int
    name: str
    kind: str
    url: str = Field(..., description="With the password replaced by ***.")
    exchange: str
    event_types: list[str]
    max_classification: str
    active: bool
    healthy: bool | None
    consecutive_failures: int
    total_failures: int
    total_successes: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str
    created_at: datetime

    @staticmethod
    def resolve_url(obj: object) -> str:
        return url_redacted(obj.url)  # type: ignore[attr-defined]


class SinkDeliveryOut(Schema):
    id: UUID
    sink_id: int
    event_id: str
    event_type: str
    task_id: UUID | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime
