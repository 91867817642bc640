"""Reads for event sinks, scoped to the user's organisation (admins only)."""

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from apps.core.config_cache import ConfigCache, config_changed
from apps.core.exceptions import NotFound, PermissionDenied
from apps.eventsinks.models import EventSink, SinkDelivery
from apps.users.models import User


def _require_admin(user: User) -> None:
    if not user.is_org_admin:
        raise PermissionDenied("Only organisation admins manage event sinks.")


def sink_list(*, user: User) -> QuerySet[EventSink]:
    _require_admin(user)
    if user.organization_id is None:
        return EventSink.objects.none()
    return EventSink.objects.filter(organization_id=user.organization_id).order_by("name")


def sink_get(*, user: User, sink_id: int) -> EventSink:
    sink = sink_list(user=user).filter(pk=sink_id).first()
    if sink is None:
        raise NotFound("Event sink not found.")
    return sink


def delivery_list(
    *, user: User, sink_id: int | None = None, status: str | None = None, event_type: str | None = None
) -> QuerySet[SinkDelivery]:
    _require_admin(user)
    if user.organization_id is None:
        return SinkDelivery.objects.none()
    deliveries = SinkDelivery.objects.filter(sink__organization_id=user.organization_id)
    if sink_id is not None:
        deliveries = deliveries.filter(sink_id=sink_id)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries.order_by("-created_at")


def delivery_get(*, user: User, delivery_id: UUID | str) -> SinkDelivery:
    delivery = delivery_list(user=user).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("Event-sink delivery not found.")
    return delivery


# Every task event asks which sinks the task's organisation has, and almost none has any: kept per
# organisation in process memory, dropped whenever a sink is saved or deleted (sinks_cache_drop,
# connected in EventSinksConfig.ready(); cross-process through the configuration version,
# apps/core/config_cache.py). Delivery counters are written with QuerySet.update() and leave it
# alone: the fan-out reads only id, active, event_types and max_classification.
_active: ConfigCache[tuple[EventSink, ...]] = ConfigCache("eventsinks.active")


def sinks_active(*, organization_id: int) -> tuple[EventSink, ...]:
    """The organisation's active sinks (cached; see above; shared: do not mutate)."""
    return _active.get(
        organization_id,
        lambda: tuple(EventSink.objects.filter(organization_id=organization_id, active=True)),
    )


def sinks_cache_drop(sender: Any, **kwargs: Any) -> None:
    """post_save/post_delete receiver for EventSink."""
    config_changed(sender, **kwargs)
