"""Which agents run a task, in which parallel groups, and why.

`plan_for_task` is what the orchestrator calls. This first rule takes the agents the user asked
for, otherwise every registered agent that accepts the task type; the decision engine (issue 5)
replaces the choice while keeping this interface."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from apps.agents.registry import agent_registry
from apps.core.exceptions import ValidationFailed

if TYPE_CHECKING:
    from apps.tasks.models import Task


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


def _step_for(agent_type: str, group_index: int = 0) -> PlannedStep:
    agent = agent_registry.get(agent_type)
    return PlannedStep(
        agent_type=agent_type,
        group_index=group_index,
        timeout_seconds=agent.default_timeout_seconds,
        queue=agent.default_queue,
    )


def candidate_agent_types(task_type: str) -> list[str]:
    return [a.type for a in agent_registry.items() if not a.aggregator and task_type in a.task_types]


def plan_for_task(task: Task) -> Plan:
    if task.requested_agents:
        types = list(task.requested_agents)
        reason = "requested by the user"
    else:
        types = candidate_agent_types(task.task_type)
        reason = f"accepts task type {task.task_type}"
    if not types:
        raise ValidationFailed(f"No agent can run a task of type {task.task_type!r}.")
    steps = [_step_for(t) for t in types]
    return Plan(
        steps=steps,
        explanation={
            "rule": "capability-match",
            "candidates": [{"agent": t, "reason": reason} for t in types],
        },
    )
