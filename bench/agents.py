"""Agents used only by benchmarks (registered by the benchmark's own processes)."""

from apps.agents.base import Agent, AgentContext, AgentResult


class NoopAgent(Agent):
    type = "bench_noop"
    label = "No-op (benchmark)"
    task_types = frozenset({"custom"})
    default_queue = "agents"

    def run(self, ctx: AgentContext) -> AgentResult:
        return AgentResult(summary="nothing done")
