"""REST API for webhooks under /api/v1/webhooks (organisation admins only)."""

from http import HTTPStatus
from uuid import UUID

from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from apps.core.api_errors import errors
from apps.core.api_pagination import BoundedPagination
from apps.users.permissions import require_scope
from apps.webhooks import selectors, services
from apps.webhooks.schemas import (
    DeliveryDetailOut,
    DeliveryOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecretOut,
)

router = Router(tags=["webhooks"])


class DeliveryPagination(BoundedPagination):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(page_size=50, **kwargs)


@router.get(
    "/webhooks/endpoints",
    response={HTTPStatus.OK: list[EndpointOut], **errors()},
    url_name="list_webhook_endpoints",
)
def list_webhook_endpoints(request: HttpRequest):
    user = require_scope(request, "admin")
    return selectors.endpoint_list(user=user)


@router.post(
    "/webhooks/endpoints",
    response={HTTPStatus.CREATED: EndpointWithSecretOut, **errors(409, body=True)},
    url_name="create_webhook_endpoint",
)
def create_webhook_endpoint(request: HttpRequest, payload: EndpointIn):
    user = require_scope(request, "admin")
    endpoint = services.endpoint_create(user=user, **payload.model_dump())
    return HTTPStatus.CREATED, endpoint


@router.get(
    "/webhooks/endpoints/{endpoint_id}",
    response={HTTPStatus.OK: EndpointOut, **errors(404, 422)},
    url_name="get_webhook_endpoint",
)
def get_webhook_endpoint(request: HttpRequest, endpoint_id: int):
    user = require_scope(request, "admin")
    return selectors.endpoint_get(user=user, endpoint_id=endpoint_id)


@router.patch(
    "/webhooks/endpoints/{endpoint_id}",
    response={HTTPStatus.OK: EndpointOut, **errors(404, 409, body=True)},
    url_name="update_webhook_endpoint",
)
def update_webhook_endpoint(request: HttpRequest, endpoint_id: int, payload: EndpointPatch):
    user = require_scope(request, "admin")
    endpoint = selectors.endpoint_get(user=user, endpoint_id=endpoint_id)
    return services.endpoint_update(endpoint=endpoint, user=user, **payload.model_dump(exclude_unset=True))


@router.delete(
    "/webhooks/endpoints/{endpoint_id}",
    response={HTTPStatus.NO_CONTENT: None, **errors(404, 422)},
    url_name="delete_webhook_endpoint",
)
def delete_webhook_endpoint(request: HttpRequest, endpoint_id: int):
    user = require_scope(request, "admin")
    services.endpoint_delete(endpoint=selectors.endpoint_get(user=user, endpoint_id=endpoint_id), user=user)
    return HTTPStatus.NO_CONTENT, None


@router.post(
    "/webhooks/endpoints/{endpoint_id}/rotate-secret",
    response={HTTPStatus.OK: EndpointWithSecretOut, **errors(404, 422)},
    url_name="rotate_webhook_secret",
)
def rotate_webhook_secret(request: HttpRequest, endpoint_id: int):
    user = require_scope(request, "admin")
    endpoint = selectors.endpoint_get(user=user, endpoint_id=endpoint_id)
    return services.endpoint_rotate_secret(endpoint=endpoint, user=user)


@router.post(
    "/webhooks/endpoints/{endpoint_id}/ping",
    response={HTTPStatus.ACCEPTED: DeliveryOut, **errors(404, 409, 422)},
    url_name="ping_webhook_endpoint",
)
def ping_webhook_endpoint(request: HttpRequest, endpoint_id: int):
    user = require_scope(request, "admin")
    endpoint = selectors.endpoint_get(user=user, endpoint_id=endpoint_id)
    return HTTPStatus.ACCEPTED, services.endpoint_ping(endpoint=endpoint, user=user)


@router.get(
    "/webhooks/deliveries",
    response={HTTPStatus.OK: list[DeliveryOut], **errors(422)},
    url_name="list_webhook_deliveries",
)
@paginate(DeliveryPagination)
def list_webhook_deliveries(
    request: HttpRequest,
    endpoint: int | None = None,
    status: str | None = None,
    event_type: str | None = None,
):
    user = require_scope(request, "admin")
    return selectors.delivery_list(user=user, endpoint_id=endpoint, status=status, event_type=event_type)


@router.get(
    "/webhooks/deliveries/{delivery_id}",
    response={HTTPStatus.OK: DeliveryDetailOut, **errors(404, 422)},
    url_name="get_webhook_delivery",
)
def get_webhook_delivery(request: HttpRequest, delivery_id: UUID):
    user = require_scope(request, "admin")
    return selectors.delivery_get(user=user, delivery_id=delivery_id)


@router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    response={HTTPStatus.ACCEPTED: DeliveryOut, **errors(404, 409, 422)},
    url_name="replay_webhook_delivery",
)
def replay_webhook_delivery(request: HttpRequest, delivery_id: UUID):
    user = require_scope(request, "admin")
    delivery = selectors.delivery_get(user=user, delivery_id=delivery_id)
    return HTTPStatus.ACCEPTED, services.delivery_replay(delivery=delivery, user=user)
