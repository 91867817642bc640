"""The agent registry: filled in AgentsConfig.ready() with the built-in agents and from the
`amas.agents` entry-point group for third-party agents. Registering an agent also registers the
task types it handles (apps.core.vocabulary.task_types), so a plug-in that brings a new task type
needs no migration."""

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import entry_points

from apps.agents.base import Agent
from apps.core.registry import Registry
from apps.core.vocabulary import task_types

log = logging.getLogger(__name__)


class AgentRegistry(Registry[Agent]):
    def register(self, item: type[Agent]) -> type[Agent]:
        super().register(item)
        task_types.register_many(item.task_types, item.task_type_labels)
        return item

    @contextmanager
    def registered(self, *items: type[Agent]) -> Iterator[None]:
        pairs = [(t, item.task_type_labels.get(t, "")) for item in items for t in item.task_types]
        with ExitStack() as stack:
            stack.enter_context(task_types.registered(*pairs))
            stack.enter_context(super().registered(*items))
            yield


agent_registry: AgentRegistry = AgentRegistry("agent")


def load_entry_point_agents() -> None:
    for entry_point in entry_points(group="amas.agents"):
        try:
            agent_registry.register(entry_point.load())
        except Exception:
            log.exception("Could not load agent plugin %s", entry_point.name)
