"""What a transaction of the pipeline sends once it commits: Celery messages first (the next
step should start as soon as possible), then the task events to websockets, then event hooks
(webhooks, metrics, indexing). One after-commit callback per transaction does all three."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass
class Outbox:
    sends: list[Callable[[], None]] = field(default_factory=list)
    events: list[tuple[Any, Any]] = field(default_factory=list)  # (TaskEvent, organization_id)

    def flush(self) -> None:
        """Each part is tried on its own: a broker that is down must not keep the events from the
        websockets, nor one failing hook the others. Nothing is lost by a failure here: steps stay
        queued in Postgres (the reaper re-sends them within seconds) and the events are in the
        event store (a client resumes from its last seq)."""
        from apps.core.config_cache import config_version_pinned
        from apps.tasks import hooks, realtime

        for send in self.sends:
            _guarded("send step messages", send)
        # Twice: the first use of a pooled connection that a Redis restart closed fails once.
        _guarded("broadcast task events", lambda: realtime.events_broadcast(self.events), attempts=2)
        # The hooks of a transaction's events ask the same configuration (webhook endpoints,
        # event sinks) per event: one read of the configuration version answers them all.
        with config_version_pinned():
            for event, _organization_id in self.events:
                _guarded(f"run hooks for event {event.seq}", partial(hooks.run_event_hooks, event))
        if self.events:
            events = [event for event, _organization_id in self.events]
            for hook in hooks.events_hooks():
                _guarded(f"run {getattr(hook, '__name__', hook)} for the events", partial(hook, events))


def _guarded(what: str, call: Callable[[], object], *, attempts: int = 1) -> None:
    for attempt in range(1, attempts + 1):
        try:
            call()
            return
        except Exception:  # logged; see Outbox.flush for why nothing is lost
            if attempt == attempts:
                log.warning("After commit: could not %s", what, exc_info=True)


_held = threading.local()  # .boxes: the outboxes an open `outboxes_held` block keeps


@contextmanager
def outboxes_held() -> Iterator[list[Outbox]]:
    """The outboxes of transactions this thread commits inside the block are kept, in commit
    order, in the list yielded instead of being flushed at commit; the caller flushes them with
    `flush_held` (the block's end does not). The step runner holds its claim's and its
    outcome's: a fast agent's four events then go in one broadcast and one round of hooks."""
    if getattr(_held, "boxes", None) is not None:
        raise RuntimeError("outboxes_held blocks do not nest")
    boxes: list[Outbox] = []
    _held.boxes = boxes
    try:
        yield boxes
    finally:
        _held.boxes = None


def flush_held(boxes: list[Outbox]) -> None:
    """Send what held outboxes hold as one outbox (their step messages, then their events in
    commit order, then the hooks) and empty the list: a second call sends nothing."""
    if not boxes:
        return
    merged = Outbox()
    for box in boxes:
        merged.sends += box.sends
        merged.events += box.events
    boxes.clear()
    merged.flush()


def outbox() -> Outbox:
    """The current transaction's outbox (created, and its callback registered, on first use)."""
    connection = transaction.get_connection()
    for _savepoints, callback, _robust in connection.run_on_commit:
        found = getattr(callback, "amas_outbox", None)
        if found is not None:
            return found
    box = Outbox()

    def flush() -> None:
        held = getattr(_held, "boxes", None)
        if held is not None:
            held.append(box)
        else:
            box.flush()

    flush.amas_outbox = box  # type: ignore[attr-defined]
    # robust: the change is committed; a failing send, broadcast or hook must not fail the caller
    # (lost step messages are sent again by the reaper, see reaper.steps_resend_lost).
    transaction.on_commit(flush, robust=True)
    return box
