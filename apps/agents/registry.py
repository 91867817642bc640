"""The agent registry: filled in AgentsConfig.ready() with the built-in agents and from the
`amas.agents` entry-point group for third-party agents."""

import logging
from importlib.metadata import entry_points

from apps.agents.base import Agent
from apps.core.registry import Registry

log = logging.getLogger(__name__)

agent_registry: Registry[Agent] = Registry("agent")


def load_entry_point_agents() -> None:
    for entry_point in entry_points(group="amas.agents"):
        try:
            agent_registry.register(entry_point.load())
        except Exception:
            log.exception("Could not load agent plugin %s", entry_point.name)
