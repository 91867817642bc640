"""The AMAS ASGI application with the benchmark agents registered (for amas.web --app)."""

from amas.asgi import application
from apps.agents.registry import agent_registry
from bench.agents import NoopAgent

if NoopAgent.type not in agent_registry:
    agent_registry.register(NoopAgent)

__all__ = ["application"]
