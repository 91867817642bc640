"""What the decision engine knows of earlier runs: each candidate's latest outcomes for a task type
and how many of its steps run now. The tasks app owns those rows and registers the reader in
TasksConfig.ready() (apps.tasks.agent_history); agents never query tasks' or providers' tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

SUCCESS = "completed"
FAILURE = ("failed", "timed_out")

# (agent type, agent config id); config id None is the agent run with its defaults (no config row).
HistoryKey = tuple[str, int | None]


@dataclass(frozen=True)
class Outcome:
    status: str
    processing_time_ms: int
    cost: float


class AgentHistory(Protocol):
    def outcomes(
        self, *, task_type: str, keys: Iterable[HistoryKey], window: int
    ) -> dict[HistoryKey, list[Outcome]]:
        """The latest `window` finished outcomes per key for tasks of `task_type`, oldest first."""
        ...

    def running_steps(self, *, config_ids: list[int]) -> dict[int, int]:
        """Steps running now per agent config (from the database)."""
        ...


_reader: AgentHistory | None = None


def register_agent_history(reader: AgentHistory) -> None:
    global _reader
    _reader = reader


def agent_history() -> AgentHistory:
    if _reader is None:
        raise RuntimeError("No agent history reader registered (the tasks app registers it in ready()).")
    return _reader
