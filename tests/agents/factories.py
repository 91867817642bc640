"""Agent config rows for tests. Task, step and result rows come from tests/tasks/factories.py."""

import uuid

from apps.agents.models import AgentConfig


def make_config(agent_type: str, **fields) -> AgentConfig:
    fields.setdefault("name", f"{agent_type}-{uuid.uuid4().hex[:6]}")
    return AgentConfig.objects.create(agent_type=agent_type, **fields)
