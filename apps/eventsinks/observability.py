"""The event sinks' node in the service-health graph (registered in EventSinksConfig.ready()):
down when every active sink's last publish failed, degraded when some did."""

from __future__ import annotations

from typing import Any

from apps.core import service_health


def check_event_sinks() -> tuple[str, dict[str, Any]]:
    from apps.eventsinks.models import EventSink

    sinks = {
        s.name: {
            "organization": s.organization_id,
            "kind": s.kind,
            "healthy": s.healthy,
            "consecutive_failures": s.consecutive_failures,
            "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
            "error": s.last_error[:200] if s.healthy is False else "",
        }
        for s in EventSink.objects.filter(active=True).order_by("organization_id", "name")
    }
    info = {"sinks": sinks}
    failing = [name for name, s in sinks.items() if s["healthy"] is False]
    if sinks and len(failing) == len(sinks):
        raise RuntimeError(f"the last publish of every active sink failed: {', '.join(failing)}")
    if failing:
        raise service_health.Degraded(f"{len(failing)} of {len(sinks)} failing: {', '.join(failing)}", info)
    return f"{len(sinks)} active", info


def register() -> None:
    service_health.register_node(
        service_health.Node("event_sinks", "Event sinks", ("postgres",), check_event_sinks, critical=False)
    )
