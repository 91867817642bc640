"""Reads for webhooks, scoped to the user's organisation."""

from typing import Any
from uuid import UUID

from django.db.models import Count, QuerySet

from apps.core.config_cache import ConfigCache, config_changed
from apps.core.exceptions import NotFound, PermissionDenied
from apps.users.models import User
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


def _require_admin(user: User) -> None:
    if not user.is_org_admin:
        raise PermissionDenied("Only organisation admins manage webhooks.")


def endpoint_list(*, user: User) -> QuerySet[WebhookEndpoint]:
    _require_admin(user)
    if user.organization_id is None:
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.filter(organization_id=user.organization_id).order_by("name")


# Every task event (six per no-op task) asks which endpoints want it, and almost no organisation
# has any: the answer is kept per organisation in process memory and dropped whenever an endpoint
# is saved or deleted (endpoints_cache_drop, connected in WebhooksConfig.ready(); cross-process
# through the configuration version, apps/core/config_cache.py). Counter updates done with
# QuerySet.update() leave it alone: the fan-out reads only id, active, events and classification.
_endpoints: ConfigCache[tuple[WebhookEndpoint, ...]] = ConfigCache("webhooks.active-endpoints")


def endpoints_active(*, organization_id: int) -> tuple[WebhookEndpoint, ...]:
    """The organisation's active endpoints (cached; see above; shared: do not mutate)."""
    return _endpoints.get(
        organization_id,
        lambda: tuple(WebhookEndpoint.objects.filter(organization_id=organization_id, active=True)),
    )


def endpoints_cache_drop(sender: Any, instance: WebhookEndpoint, **kwargs: Any) -> None:
    """post_save/post_delete receiver."""
    config_changed(sender, instance=instance, **kwargs)


def endpoint_get(*, user: User, endpoint_id: int) -> WebhookEndpoint:
    endpoint = endpoint_list(user=user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("Webhook endpoint not found.")
    return endpoint


def delivery_list(
    *, user: User, endpoint_id: int | None = None, status: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    _require_admin(user)
    if user.organization_id is None:
        return WebhookDelivery.objects.none()
    deliveries = WebhookDelivery.objects.filter(endpoint__organization_id=user.organization_id)
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries.select_related("endpoint").prefetch_related("attempt_log").order_by("-created_at")


def delivery_get(*, user: User, delivery_id: UUID | str) -> WebhookDelivery:
    delivery = delivery_list(user=user).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("Webhook delivery not found.")
    return delivery


def endpoint_counts() -> dict[str, int]:
    """Endpoints by state, all organisations (for /metrics)."""
    rows = WebhookEndpoint.objects.values("active").annotate(n=Count("id"))
    counts = {"active": 0, "disabled": 0}
    for row in rows:
        counts["active" if row["active"] else "disabled"] += row["n"]
    return counts


def deliveries_pending_count() -> int:
    return WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()


def delivery_log_context(args: tuple, kwargs: dict) -> dict[str, object]:
    """Log context of a `webhooks.deliver` message: the task its event belongs to."""
    delivery_id = args[0] if args else kwargs.get("delivery_id")
    if delivery_id is None:
        return {}
    task_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("task_id", flat=True).first()
    return {"task_id": task_id}
