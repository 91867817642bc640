"""Which provider and model wrote the texts of a result (from ctx.ai's record of its calls)."""

from typing import Any

from apps.agents.base import AgentContext


def generated_by(ctx: AgentContext) -> list[dict[str, Any]]:
    record = getattr(ctx.ai, "generated_by", None)
    return record() if callable(record) else []
