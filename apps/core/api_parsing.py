"""How the API reads request bodies.

- JSON bodies are read whole (Django's DATA_UPLOAD_MAX_MEMORY_SIZE, AMAS_MAX_BODY_BYTES, bounds
  them); other content types on an operation that takes a body are refused with 415.
- Multipart bodies (a JSON `payload` field beside `files`) are never read into memory: Django's
  upload handlers stream each file to a temporary file, the `payload` field alone is bounded by
  DATA_UPLOAD_MAX_MEMORY_SIZE, and the services store files in chunks. ninja's own body reader
  touches `request.body`, which would load the whole upload (and refuse anything over the JSON
  bound), so operations that accept files declare their body with `PayloadBody`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.errors import HttpError
from ninja.params.models import BodyModel, Param

JSON_TYPES = ("application/json",)
MULTIPART = "multipart/form-data"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _is_json(content_type: str) -> bool:
    if content_type in JSON_TYPES:
        return True
    return content_type.startswith("application/") and content_type.endswith("+json")


def _has_body(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > 0 or "HTTP_TRANSFER_ENCODING" in request.META


# NUL cannot be stored in PostgreSQL text or jsonb, and no field of ours means anything by the
# other C0 control characters; tab, newline and carriage return are ordinary text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_character_at(data: Any, root: str = "body") -> str | None:
    """The path ("body.parameters.osint.resolvers.0") of the first string, or key, in parsed JSON
    that holds a control character; None when there is none. Iterative: no depth limit to hit."""
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _CONTROL.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _CONTROL.search(key):
                    return f"{path}.{key.encode('unicode_escape').decode()}"
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))
    return None


def _control_character_error(field: str) -> JsonResponse:
    return JsonResponse(
        {"detail": f"Invalid input: {field} contains a control character (such as NUL).", "field": field},
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
    )


def screen_request(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Before an operation parses anything: a body sent as text/plain (or form-encoded, or
    anything else) is refused with 415 instead of being read as JSON whatever the client declared,
    and control characters in query parameters or JSON bodies are a 422 naming the field."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for name, values in request.GET.lists():
            if _CONTROL.search(name) or any(_CONTROL.search(v) for v in values):
                return _control_character_error(f"query.{name.encode('unicode_escape').decode()}")
        if request.method in _BODY_METHODS and _has_body(request):
            content_type = request.content_type or ""
            if not (_is_json(content_type) or content_type == MULTIPART):
                return JsonResponse(
                    {
                        "detail": f"Unsupported Content-Type {content_type or '(none)'!r}: send "
                        "application/json, or multipart/form-data with the JSON in a `payload` field.",
                        "field": "Content-Type",
                    },
                    status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                )
            if _is_json(content_type):
                field = _json_control_character(request)
                if field:
                    return _control_character_error(field)
        return run(request, *args, **kwargs)

    return wrapped


def _json_control_character(request: HttpRequest) -> str | None:
    try:
        data = json.loads(request.body)  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE; ninja reuses it
    except (ValueError, RecursionError):
        return None  # ninja answers 400 for a body that is not JSON
    except RequestDataTooBig:
        return None  # answered 413 when the operation reads it
    return control_character_at(data)


class PayloadBodyModel(BodyModel):
    """JSON from the body, or from the `payload` field of a multipart form (never request.body)."""

    @classmethod
    def get_request_data(cls, request: HttpRequest, api: Any, path_params: dict[str, Any]) -> dict | None:
        if request.content_type != MULTIPART:
            return super().get_request_data(request, api, path_params)
        raw = request.POST.get("payload")  # streams the files to disk; the field itself is bounded
        if raw is None or not raw.strip():
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "A multipart request needs a JSON `payload`.")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "The `payload` field is not JSON.") from None
        if field := control_character_at(data, root="payload"):
            raise HttpError(
                HTTPStatus.UNPROCESSABLE_ENTITY, f"Invalid input: {field} contains a control character."
            )
        varname = getattr(cls, "__read_from_single_attr__", None)
        return {varname: data} if varname else data


class PayloadBody(Param):  # type: ignore[misc]
    """`payload: Annotated[TaskIn, PayloadBody(...)]`: a JSON body that may also come as multipart."""

    _model = PayloadBodyModel

    @classmethod
    def _param_source(cls) -> str:
        return "body"
