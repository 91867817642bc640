"""Websocket group of an investigation and the send into it. Only services call this, after
commit (an analyst's action: a comment, a tag, a task added ...). Its tasks' own events reach the
investigation's sockets through their task groups (apps.tasks.realtime), which the consumer joins."""

from __future__ import annotations

import logging
from typing import Any

from apps.core.realtime import layer_run

log = logging.getLogger(__name__)


def investigation_group(investigation_id: object) -> str:
    return f"investigation-{investigation_id}"


def investigation_broadcast(investigation_id: object, entry: dict[str, Any]) -> None:
    """Tell the investigation's open pages about a timeline entry. A lost broadcast costs only
    liveness (the page reads the timeline from Postgres when it reconnects), so it never fails
    the request that made the change."""

    async def send(layer: Any) -> None:
        await layer.group_send(
            investigation_group(investigation_id), {"type": "investigation.event", "entry": entry}
        )

    try:
        layer_run(send)
    except Exception:  # Redis down or slow: the change itself is committed
        log.warning("investigation broadcast failed", exc_info=True)
