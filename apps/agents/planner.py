"""Which agents run a task, in which parallel groups, and why.

`plan_for_task` is what the orchestrator calls. The decision engine (apps.agents.decision)
chooses the agents, honouring (and validating) the ones the user asked for; every chosen agent
runs in the first parallel group, and the orchestrator adds the aggregating step. The plan's
explanation holds every candidate's scores and why it was or was not chosen."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from apps.agents.base import Task
from apps.agents.decision import Candidate, decide


@dataclass
class PlannedStep:
    agent_type: str
    group_index: int = 0
    agent_config_id: int | None = None
    agent_config: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 300
    queue: str = "agents"
    max_attempts: int = 3


@dataclass
class Plan:
    steps: list[PlannedStep]
    explanation: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [asdict(s) for s in self.steps], "explanation": self.explanation}


def _step_for(candidate: Candidate) -> PlannedStep:
    agent = candidate.agent_class
    config = candidate.config
    if config is None:
        return PlannedStep(
            agent_type=candidate.agent_type,
            timeout_seconds=agent.default_timeout_seconds,
            queue=agent.default_queue,
        )
    return PlannedStep(
        agent_type=candidate.agent_type,
        agent_config_id=config.pk,
        # A snapshot for the step; secrets stay in the config row (see secrets_context).
        agent_config={
            "id": config.pk,
            "name": config.name,
            "parameters": config.parameters,
            "capabilities": sorted(candidate.capabilities),
            "provider_strategy": config.provider_strategy,
            "max_classification": config.max_classification,
            "concurrency_limit": config.concurrency_limit,
        },
        timeout_seconds=config.timeout_seconds,
        queue=config.queue,
        max_attempts=config.max_attempts,
    )


def plan_for_task(task: Task, *, rng: random.Random | None = None) -> Plan:
    """Raises ValidationFailed naming the problem: an unknown or unusable requested agent, bad
    decision weights, or no agent that fits the task."""
    decision = decide(task, rng=rng)
    return Plan(steps=[_step_for(c) for c in decision.chosen], explanation=decision.explanation)
