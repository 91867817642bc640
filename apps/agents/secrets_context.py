"""Gives a running agent the decrypted secrets of the config its step runs under, in
ctx.extras["secrets"] (never in the step's JSON snapshot, which is stored in plain text)."""

from apps.agents.base import AgentContext
from apps.agents.selectors import agent_config_secrets


def add_config_secrets(ctx: AgentContext) -> None:
    ctx.extras["secrets"] = agent_config_secrets(config_id=ctx.step.agent_config_id)
