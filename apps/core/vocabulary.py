"""The words every app shares: the Traffic Light Protocol (TLP) levels data is classified by, and
the task types a user can submit. Defined once here, at the bottom of the layers, so tasks,
agents, providers, webhooks and knowledge agree without importing each other.

Task types live in a registry, not in database choices: an agent (built in, or a plug-in from the
`amas.agents` entry-point group) that brings a new type registers it when the agent registers, and
no migration is needed. The database stores the type string."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

from django.db import models


class Classification(models.TextChoices):
    """Traffic Light Protocol. Order matters: a provider or agent allowed `amber` may see `green`."""

    CLEAR = "clear", "TLP:CLEAR"
    GREEN = "green", "TLP:GREEN"
    AMBER = "amber", "TLP:AMBER"
    RED = "red", "TLP:RED"

    @classmethod
    def rank(cls, value: str) -> int:
        return [c.value for c in cls].index(value)


# The same levels as a static type, for API schemas (type checkers cannot read TextChoices values).
TLPLevel = Literal["clear", "green", "amber", "red"]
if get_args(TLPLevel) != tuple(Classification.values):  # pragma: no cover - a wrong edit above
    raise RuntimeError("TLPLevel must list Classification's values in order.")


class TaskType(StrEnum):
    """The task types AMAS ships with, as names for code. Which types exist at run time is
    `task_types` (below): these plus whatever registered agents bring. Deliberately not
    TextChoices, so nobody validates against this closed list by accident."""

    INVESTIGATION = "investigation"
    SECURITY_SCAN = "security_scan"
    FILE_ANALYSIS = "file_analysis"
    DOCUMENT_ANALYSIS = "document_analysis"
    DATA_ANALYSIS = "data_analysis"
    ANOMALY_DETECTION = "anomaly_detection"
    CLUSTERING = "clustering"
    CLASSIFICATION = "classification"
    CUSTOM = "custom"


BUILTIN_TASK_TYPE_LABELS: dict[str, str] = {
    TaskType.INVESTIGATION: "Investigate a target (OSINT)",
    TaskType.SECURITY_SCAN: "Security assessment",
    TaskType.FILE_ANALYSIS: "Analyse files (forensics)",
    TaskType.DOCUMENT_ANALYSIS: "Summarise and analyse documents",
    TaskType.DATA_ANALYSIS: "Analyse tabular data",
    TaskType.ANOMALY_DETECTION: "Find anomalies in data or logs",
    TaskType.CLUSTERING: "Cluster documents or results",
    TaskType.CLASSIFICATION: "Train and apply a classifier",
    TaskType.CUSTOM: "Custom (agents chosen explicitly)",
}


@dataclass(frozen=True)
class TaskTypeInfo:
    value: str
    label: str


class TaskTypeRegistry:
    """Task type string -> label. Registering a known type again is harmless (several agents
    handle `investigation`); the first label wins so built-in labels are not overwritten."""

    def __init__(self) -> None:
        self._items: dict[str, TaskTypeInfo] = {}

    def register(self, value: str, label: str | None = None) -> TaskTypeInfo:
        value = str(value)
        if not value or len(value) > 32:
            # The column is varchar(32); refuse here rather than fail on the first insert.
            raise ValueError(f"A task type is 1-32 characters, got {value!r}.")
        existing = self._items.get(value)
        if existing is not None:
            return existing
        info = TaskTypeInfo(value, label or BUILTIN_TASK_TYPE_LABELS.get(value) or _default_label(value))
        self._items[value] = info
        return info

    def register_many(self, values: Iterable[str], labels: dict[str, str] | None = None) -> None:
        for value in values:
            self.register(value, (labels or {}).get(value))

    def __contains__(self, value: object) -> bool:
        return value in self._items

    def values(self) -> list[str]:
        return list(self._items)

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) pairs for forms; pass the bound method itself as a form field's
        `choices` so the list is read when the form renders, after every agent registered."""
        return [(i.value, i.label) for i in self._items.values()]

    def label(self, value: str) -> str:
        info = self._items.get(value)
        return info.label if info else _default_label(value)

    @contextmanager
    def registered(self, *infos: tuple[str, str]) -> Iterator[None]:
        """Register (value, label) pairs for a block, restoring the registry afterwards."""
        saved = dict(self._items)
        for value, label in infos:
            self.register(value, label)
        try:
            yield
        finally:
            self._items = saved


def _default_label(value: str) -> str:
    return value.replace("_", " ").capitalize()


task_types = TaskTypeRegistry()
# The built-in types are part of the vocabulary even before (or without) the agents app's ready():
# `custom` belongs to no agent, and the rest keep their labels whichever agent registers first.
task_types.register_many(TaskType)
