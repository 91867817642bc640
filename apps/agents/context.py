"""Context contributors: apps fill the agent context's slots (ai, storage, graph) without the
tasks app knowing them. Register in AppConfig.ready()."""

from collections.abc import Callable

from apps.agents.base import AgentContext

ContextContributor = Callable[[AgentContext], None]

_contributors: list[ContextContributor] = []


def register_context_contributor(contributor: ContextContributor) -> ContextContributor:
    if contributor not in _contributors:
        _contributors.append(contributor)
    return contributor


def contribute(ctx: AgentContext) -> None:
    for contributor in _contributors:
        contributor(ctx)
