"""Hooks other apps register to react to what the pipeline produced, without the pipeline knowing
them (knowledge ingests entities and embeds text; webhooks/metrics follow events).

Result hooks run inside the transaction that writes the Result, so what they write commits or
rolls back with it; they should enqueue heavy work with transaction.on_commit."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ResultHook = Callable[[Any, Any], None]  # (Result row, AgentResult)
EventHook = Callable[[Any], object]  # (TaskEvent row), called after commit; the return is ignored
# (a transaction's TaskEvent rows, in order), called once after its commit: for hooks that batch
EventsHook = Callable[[list[Any]], object]

_result_hooks: list[ResultHook] = []
_event_hooks: list[EventHook] = []
_events_hooks: list[EventsHook] = []


def register_result_hook(hook: ResultHook) -> ResultHook:
    if hook not in _result_hooks:
        _result_hooks.append(hook)
    return hook


def register_event_hook(hook: EventHook) -> EventHook:
    if hook not in _event_hooks:
        _event_hooks.append(hook)
    return hook


def register_events_hook(hook: EventsHook) -> EventsHook:
    if hook not in _events_hooks:
        _events_hooks.append(hook)
    return hook


def events_hooks() -> list[EventsHook]:
    return list(_events_hooks)


def run_result_hooks(result: Any, agent_result: Any) -> None:
    for hook in _result_hooks:
        hook(result, agent_result)


def run_event_hooks(event: Any) -> None:
    for hook in _event_hooks:
        hook(event)


# Task search extensions: apps that keep their own data about tasks (the case layer's tags and
# comments) make it findable in every task list (API, dashboard) without tasks importing them.
TaskTagCondition = Callable[[str], Any]  # (tag) -> a filter condition (Q / Exists) on Task rows
TaskTextCondition = Callable[[str], Any]  # (search text) -> a condition OR'ed into the text search

_task_tag_condition: TaskTagCondition | None = None
_task_text_conditions: list[TaskTextCondition] = []


def register_task_search(
    *, tag: TaskTagCondition | None = None, text: TaskTextCondition | None = None
) -> None:
    global _task_tag_condition
    if tag is not None:
        _task_tag_condition = tag
    if text is not None and text not in _task_text_conditions:
        _task_text_conditions.append(text)


def task_tag_condition() -> TaskTagCondition | None:
    return _task_tag_condition


def task_text_conditions() -> list[TaskTextCondition]:
    return list(_task_text_conditions)


@dataclass(frozen=True)
class AttachmentStore:
    """Where the files a task is created with go. The knowledge app (artefact storage) registers
    it; tasks cannot import knowledge, which reads tasks' tables."""

    check_limits: Callable[[list[Any]], None]  # raises before anything is written
    create: Callable[..., Any]  # (*, task, file, uploaded_by) -> the stored artefact


_attachment_store: AttachmentStore | None = None


def register_attachment_store(store: AttachmentStore) -> AttachmentStore:
    global _attachment_store
    _attachment_store = store
    return store


def attachment_store() -> AttachmentStore:
    if _attachment_store is None:
        raise RuntimeError("No attachment store is registered (the knowledge app registers one).")
    return _attachment_store


# Spend per step recorded outside tasks' rows (the provider ledger): the decision engine's agent
# history counts it even when an agent did not copy its AI spend into its Result. Providers
# registers its ledger here; tasks cannot import providers, which registers hooks with tasks.
StepSpendSource = Callable[..., dict[int, float]]  # (*, step_ids) -> {step_id: spend}
_step_spend_sources: list[StepSpendSource] = []


def register_step_spend_source(source: StepSpendSource) -> StepSpendSource:
    if source not in _step_spend_sources:
        _step_spend_sources.append(source)
    return source


def step_spend(step_ids: list[int]) -> dict[int, float]:
    """The registered sources' spend per step, added up (steps without spend are absent)."""
    total: dict[int, float] = {}
    for source in _step_spend_sources:
        for step_id, spend in source(step_ids=step_ids).items():
            total[step_id] = total.get(step_id, 0.0) + spend
    return total
