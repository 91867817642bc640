"""Hooks other apps register to react to what the pipeline produced, without the pipeline knowing
them (knowledge ingests entities and embeds text; webhooks/metrics follow events).

Result hooks run inside the transaction that writes the Result, so what they write commits or
rolls back with it; they should enqueue heavy work with transaction.on_commit."""

from collections.abc import Callable
from typing import Any

ResultHook = Callable[[Any, Any], None]  # (Result row, AgentResult)
EventHook = Callable[[Any], None]  # (TaskEvent row), called after commit

_result_hooks: list[ResultHook] = []
_event_hooks: list[EventHook] = []


def register_result_hook(hook: ResultHook) -> ResultHook:
    if hook not in _result_hooks:
        _result_hooks.append(hook)
    return hook


def register_event_hook(hook: EventHook) -> EventHook:
    if hook not in _event_hooks:
        _event_hooks.append(hook)
    return hook


def run_result_hooks(result: Any, agent_result: Any) -> None:
    for hook in _result_hooks:
        hook(result, agent_result)


def run_event_hooks(event: Any) -> None:
    for hook in _event_hooks:
        hook(event)
