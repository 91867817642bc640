import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core import request_context

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Gives every request an id (honouring a sane incoming one) for logs, audit rows and workers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_context.request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_context.request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
