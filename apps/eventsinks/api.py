"""REST API for event sinks under /api/v1/event-sinks (organisation admins only). Sink URLs are
write-only secrets: answers carry them with the password replaced by ***."""

from http import HTTPStatus
from typing import Literal

from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from apps.core.api_errors import errors
from apps.core.api_pagination import BoundedPagination
from apps.eventsinks import selectors, services
from apps.eventsinks.schemas import SinkDeliveryOut, SinkIn, SinkOut, SinkPatch
from apps.users.permissions import require_scope

router = Router(tags=["event sinks"])

DeliveryStatus = Literal["pending", "succeeded", "failed"]


class DeliveryPagination(BoundedPagination):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(page_size=50, **kwargs)


@router.get("/event-sinks", response={HTTPStatus.OK: list[SinkOut], **errors()}, url_name="list_event_sinks")
def list_event_sinks(request: HttpRequest):
    user = require_scope(request, "admin")
    return selectors.sink_list(user=user)


@router.post(
    "/event-sinks",
    response={HTTPStatus.CREATED: SinkOut, **errors(409, body=True)},
    url_name="create_event_sink",
)
def create_event_sink(request: HttpRequest, payload: SinkIn):
    user = require_scope(request, "admin")
    return HTTPStatus.CREATED, services.sink_create(user=user, **payload.model_dump())


@router.get(
    "/event-sinks/deliveries",
    response={HTTPStatus.OK: list[SinkDeliveryOut], **errors(422)},
    url_name="list_event_sink_deliveries",
)
@paginate(DeliveryPagination)
def list_event_sink_deliveries(
    request: HttpRequest,
    sink: int | None = None,
    status: DeliveryStatus | None = None,
    event_type: str | None = None,
):
    user = require_scope(request, "admin")
    return selectors.delivery_list(user=user, sink_id=sink, status=status, event_type=event_type)


@router.get(
    "/event-sinks/{sink_id}", response={HTTPStatus.OK: SinkOut, **errors(404, 422)}, url_name="get_event_sink"
)
def get_event_sink(request: HttpRequest, sink_id: int):
    user = require_scope(request, "admin")
    return selectors.sink_get(user=user, sink_id=sink_id)


@router.patch(
    "/event-sinks/{sink_id}",
    response={HTTPStatus.OK: SinkOut, **errors(404, 409, body=True)},
    url_name="update_event_sink",
)
def update_event_sink(request: HttpRequest, sink_id: int, payload: SinkPatch):
    user = require_scope(request, "admin")
    sink = selectors.sink_get(user=user, sink_id=sink_id)
    return services.sink_update(sink=sink, user=user, **payload.model_dump(exclude_unset=True))


@router.delete(
    "/event-sinks/{sink_id}",
    response={HTTPStatus.NO_CONTENT: None, **errors(404, 422)},
    url_name="delete_event_sink",
)
def delete_event_sink(request: HttpRequest, sink_id: int):
    user = require_scope(request, "admin")
    services.sink_delete(sink=selectors.sink_get(user=user, sink_id=sink_id), user=user)
    return HTTPStatus.NO_CONTENT, None


@router.post(
    "/event-sinks/{sink_id}/test",
    response={HTTPStatus.ACCEPTED: SinkDeliveryOut, **errors(404, 409, 422)},
    url_name="test_event_sink",
)
def test_event_sink(request: HttpRequest, sink_id: int):
    """Publish a `sink.test` message; follow its delivery in /event-sinks/deliveries."""
    user = require_scope(request, "admin")
    sink = selectors.sink_get(user=user, sink_id=sink_id)
    return HTTPStatus.ACCEPTED, services.sink_test_send(sink=sink, user=user)
