from contextlib import contextmanager

import pytest

from apps.agents.registry import agent_registry
from tests.agents import sim_agents


@contextmanager
def only_agents(*classes):
    """The registry holds these agents and nothing else inside the block."""
    keep = {a.type for a in classes}
    with agent_registry.registered(*classes):
        for agent_type in agent_registry.types():
            if agent_type not in keep:
                agent_registry.unregister(agent_type)
        yield


@pytest.fixture
def only_sim_agents():
    with only_agents(*sim_agents.ALL):
        yield
