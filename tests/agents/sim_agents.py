"""Agents for the decision-engine tests: same job, different quality and price."""

from apps.agents.base import Agent, AgentContext, AgentParams, AgentResult


class SimParams(AgentParams):
    depth: int = 1


class _Sim(Agent):
    capabilities = frozenset({"enrich"})
    task_types = frozenset({"investigation", "data_analysis"})
    target_kinds = frozenset({"domain", "hostname"})
    Params = SimParams

    def run(self, ctx: AgentContext) -> AgentResult:
        return AgentResult(summary=self.type)


class GoodAgent(_Sim):
    type = "sim_good"
    label = "Good"


class FairAgent(_Sim):
    type = "sim_fair"
    label = "Fair"


class PoorAgent(_Sim):
    type = "sim_poor"
    label = "Poor"


class HashAgent(Agent):
    """Takes only hashes, and adds its own capability."""

    type = "sim_hash"
    label = "Hash"
    capabilities = frozenset({"hash-lookup"})
    task_types = frozenset({"investigation"})
    target_kinds = frozenset({"hash"})


class TextAgent(Agent):
    """Takes any text, and adds its own capability."""

    type = "sim_text"
    label = "Text"
    capabilities = frozenset({"extract"})
    task_types = frozenset({"investigation"})
    target_kinds = frozenset({"text"})


ALL = (GoodAgent, FairAgent, PoorAgent, HashAgent, TextAgent)
