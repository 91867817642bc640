from datetime import datetime
from typing import Any

from ninja import Schema


class AgentHealthOut(Schema):
    ok: bool | None
    message: str
    checked_at: datetime | None


class AgentOut(Schema):
    id: int
    name: str
    agent_type: str
    label: str
    description: str
    registered: bool
    enabled: bool
    capabilities: list[str]
    task_types: list[str]
    target_kinds: list[str]
    concurrency_limit: int
    slots_in_use: int
    timeout_seconds: int
    max_attempts: int
    queue: str
    max_classification: str
    provider_strategy: str
    parameters: dict[str, Any]
    parameter_schema: dict[str, Any]
    has_secrets: bool
    health: AgentHealthOut
