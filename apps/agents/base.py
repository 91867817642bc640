"""The agent contract. An agent is a class with a `type`, what it can do, the parameters it takes,
and `run(ctx) -> AgentResult`. It runs inside a Celery worker; everything it needs from AMAS comes
through the context (progress, cancellation, AI router, storage, knowledge graph)."""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

# The task and step rows an agent runs for (apps.tasks.models.Task / TaskStep). Named, not
# imported: agents depend on their context, and the tasks app sits above them in the layers.
Task = Any
TaskStep = Any


class AgentParams(BaseModel):
    """Base for agent parameter schemas; unknown keys are refused so typos surface as 422s.

    A task's parameters are merged over the agent configuration's (set by an admin). Parameters
    that reach the worker's file system or pick where network traffic goes belong to the admin:
    list them in ADMIN_ONLY, and override `task_parameters_problem` for finer rules."""

    model_config = ConfigDict(extra="forbid")

    ADMIN_ONLY: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def task_parameters_problem(cls, values: dict[str, Any]) -> tuple[str, str] | None:
        """(field, message) when a task may not ask for these values, else None."""
        for name in sorted(cls.ADMIN_ONLY & set(values)):
            return name, "is set by an admin in the agent's configuration, not per task"
        return None

    @classmethod
    def from_config_and_task(cls, config: dict[str, Any], task: dict[str, Any]) -> AgentParams:
        """The parameters a step runs with: the task's over the configuration's, except those the
        admin alone sets (also for tasks stored before a parameter became admin-only)."""
        allowed = {key: value for key, value in task.items() if key not in cls.ADMIN_ONLY}
        return cls.model_validate({**config, **allowed})


class AgentError(Exception):
    """An agent failure. `retryable` errors (a timeout, a 503) are retried with backoff."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class AgentCancelled(Exception):
    """Raised by `ctx.check_cancelled()` when the user cancelled the task."""


@dataclass
class Entity:
    kind: str  # domain, ip, url, email, hash, cve, organization, person, file ...
    value: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Relation:
    source: Entity
    type: str  # resolves_to, mail_handled_by, hosted_on, links_to, contains ...
    target: Entity
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentResult:
    data: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    status: str = "completed"  # completed | failed (a clean, reported failure, not a crash)
    error_message: str = ""
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


class AgentContext:
    """What an agent sees of AMAS while it runs. Slots `ai`, `storage`, `graph` and `history` are
    filled by context contributors that other apps register (apps.agents.context): `ai` by
    providers (providers.context), `storage` and `graph` by knowledge (knowledge.agent_context),
    `history` by tasks (tasks.agent_history)."""

    def __init__(
        self,
        *,
        task: Task,
        step: TaskStep,
        parameters: AgentParams,
        previous_results: list[dict[str, Any]] | None = None,
        progress_callback: Any = None,
        cancelled_callback: Any = None,
    ) -> None:
        self.task = task
        self.step = step
        self.parameters = parameters
        self.previous_results = previous_results or []
        self.logger = logging.LoggerAdapter(
            logging.getLogger(f"amas.agents.{step.agent_type}"),
            {"task_id": str(task.id), "step_id": step.id},
        )
        self._progress = progress_callback
        self._cancelled = cancelled_callback
        self.ai: Any = None
        self.storage: Any = None
        self.graph: Any = None
        self.history: Any = None  # earlier results of the organization (tasks.agent_history)
        self.extras: dict[str, Any] = {}

    def progress(self, pct: int, message: str = "") -> None:
        if self._progress is not None:
            self._progress(max(0, min(100, int(pct))), message)

    def is_cancelled(self) -> bool:
        return bool(self._cancelled and self._cancelled())

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise AgentCancelled("The task was cancelled.")


class Agent:
    """Subclass, set the class attributes, implement run()."""

    type: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    task_types: ClassVar[frozenset[str]] = frozenset()
    # Labels for task types this agent introduces (built-in types already have theirs).
    task_type_labels: ClassVar[dict[str, str]] = {}
    target_kinds: ClassVar[frozenset[str]] = frozenset()  # domain, ip, url, email, hash, text, file
    # builtins.type: inside this class body `type` is the attribute above, not the builtin.
    Params: ClassVar[builtins.type[AgentParams]] = AgentParams
    default_timeout_seconds: ClassVar[int] = 300
    default_queue: ClassVar[str] = "agents"
    aggregator: ClassVar[bool] = False  # runs last and sees every other step's result

    def run(self, ctx: AgentContext) -> AgentResult:
        raise NotImplementedError

    def health(self) -> tuple[bool, str]:
        """A cheap self-check (resolver reachable, rules compiled). Override where it matters."""
        return True, "ok"

    def check_health(self, params: AgentParams) -> tuple[bool, str]:
        """Health against one config's parameters (its resolvers, its base URLs). Agents whose
        health depends on configuration override this; the default is `health()`."""
        return self.health()

    @classmethod
    def parameter_schema(cls) -> dict[str, Any]:
        return cls.Params.model_json_schema()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "type": cls.type,
            "label": cls.label,
            "description": cls.description,
            "capabilities": sorted(cls.capabilities),
            "task_types": sorted(cls.task_types),
            "target_kinds": sorted(cls.target_kinds),
            "parameter_schema": cls.parameter_schema(),
        }
