"""Agents for the operations tests: each runs on its own queue, so a step of one can only have
been executed by the worker process that consumes that queue."""

import logging

from apps.agents.base import Agent, AgentContext, AgentResult

log = logging.getLogger("tests.ops.agents")


class OpsAgentA(Agent):
    type = "test_ops_a"
    label = "Ops A"
    task_types = frozenset({"custom"})
    default_queue = "ops-a"

    def run(self, ctx: AgentContext) -> AgentResult:
        ctx.progress(30, "warming up")
        log.info("agent %s working on %s", self.type, ctx.task.target)
        ctx.progress(70, "almost")
        return AgentResult(data={"agent": self.type, "target": ctx.task.target}, summary=f"{self.type} done")


class OpsAgentB(OpsAgentA):
    type = "test_ops_b"
    label = "Ops B"
    default_queue = "ops-b"


ALL = (OpsAgentA, OpsAgentB)
