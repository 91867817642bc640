"""What a transaction of the pipeline sends once it commits: Celery messages first (the next
step should start as soon as possible), then the task events to websockets, then event hooks
(webhooks, metrics, indexing). One after-commit callback per transaction does all three."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction


@dataclass
class Outbox:
    sends: list[Callable[[], None]] = field(default_factory=list)
    events: list[tuple[Any, Any]] = field(default_factory=list)  # (TaskEvent, organization_id)

    def flush(self) -> None:
        from apps.tasks import hooks, realtime

        for send in self.sends:
            send()
        realtime.events_broadcast(self.events)
        for event, _organization_id in self.events:
            hooks.run_event_hooks(event)


def outbox() -> Outbox:
    """The current transaction's outbox (created, and its callback registered, on first use)."""
    connection = transaction.get_connection()
    for _savepoints, callback, _robust in connection.run_on_commit:
        found = getattr(callback, "amas_outbox", None)
        if found is not None:
            return found
    box = Outbox()

    def flush() -> None:
        box.flush()

    flush.amas_outbox = box  # type: ignore[attr-defined]
    # robust: the change is committed; a failing send, broadcast or hook must not fail the caller
    # (lost step messages are sent again by the reaper, see reaper.steps_resend_stale).
    transaction.on_commit(flush, robust=True)
    return box
