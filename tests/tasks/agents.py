"""Agents used by the pipeline tests. Registered per test with agent_registry.registered(...)."""

import time

from apps.agents.base import Agent, AgentContext, AgentError, AgentParams, AgentResult, Entity


class EchoParams(AgentParams):
    words: int = 3


class EchoAgent(Agent):
    type = "test_echo"
    label = "Echo"
    capabilities = frozenset({"echo"})
    task_types = frozenset({"custom", "investigation"})
    Params = EchoParams

    def run(self, ctx: AgentContext) -> AgentResult:
        ctx.progress(50, "halfway")
        words = ctx.task.target.split()[: ctx.parameters.words]
        return AgentResult(
            data={
                "target": ctx.task.target,
                "words": words,
                "findings": [{"severity": "low", "title": "echo"}],
            },
            summary=f"echoed {len(words)} words",
            entities=[Entity("domain", "example.org")],
            tokens_in=3,
            tokens_out=2,
            cost=0.001,
        )


class SecondEchoAgent(EchoAgent):
    type = "test_echo_two"
    label = "Echo two"


class BrokenAgent(Agent):
    type = "test_broken"
    label = "Broken"
    task_types = frozenset({"custom"})

    def run(self, ctx: AgentContext) -> AgentResult:
        raise RuntimeError("the agent broke on purpose")


class SlowParams(AgentParams):
    seconds: float = 30.0
    seconds_after_first_attempt: float | None = None


class SlowAgent(Agent):
    """Works in small slices, reporting progress and honouring cancellation."""

    type = "test_slow"
    label = "Slow"
    task_types = frozenset({"custom"})
    Params = SlowParams

    def run(self, ctx: AgentContext) -> AgentResult:
        seconds = ctx.parameters.seconds
        if ctx.step.attempt > 1 and ctx.parameters.seconds_after_first_attempt is not None:
            seconds = ctx.parameters.seconds_after_first_attempt
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ctx.check_cancelled()
            remaining = max(0.0, deadline - time.monotonic())
            ctx.progress(int(100 * (1 - remaining / seconds)) if seconds else 100, "working")
            time.sleep(0.05)
        return AgentResult(data={"slept": seconds, "attempt": ctx.step.attempt}, summary="done sleeping")


class KillableSlowAgent(SlowAgent):
    type = "test_slow_killable"
    default_queue = "killable"


class StubbornAgent(Agent):
    """Ignores cancellation entirely: only the step timeout can stop waiting for it."""

    type = "test_stubborn"
    label = "Stubborn"
    task_types = frozenset({"custom"})
    default_timeout_seconds = 1

    def run(self, ctx: AgentContext) -> AgentResult:
        time.sleep(4)
        return AgentResult(summary="too late")


class FlakyAgent(Agent):
    """Fails with a retryable error on its first attempt."""

    type = "test_flaky"
    label = "Flaky"
    task_types = frozenset({"custom"})

    def run(self, ctx: AgentContext) -> AgentResult:
        if ctx.step.attempt == 1:
            raise AgentError("upstream said 503", retryable=True)
        return AgentResult(summary=f"worked on attempt {ctx.step.attempt}")


ALL = (EchoAgent, SecondEchoAgent, BrokenAgent, SlowAgent, KillableSlowAgent, StubbornAgent, FlakyAgent)
