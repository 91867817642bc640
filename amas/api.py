"""The REST API under /api/v1/. Each app contributes a router; domain errors map to HTTP here."""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.parser import Parser

from apps.core.exceptions import ApplicationError
from apps.users.auth import api_auth


class JsonOrMultipartParser(Parser):
    """JSON bodies, or multipart forms whose `payload` field holds the JSON (files ride beside
    it in request.FILES), so one operation accepts both."""

    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type == "multipart/form-data":
            raw = request.POST.get("payload") or "{}"
            return json.loads(raw)
        return super().parse_body(request)


api = NinjaAPI(
    title="AMAS API",
    version="1.0.0",
    description="Submit tasks to AMAS agents, follow them and read their results.",
    urls_namespace="api",
    docs_url="/docs",
    auth=api_auth,  # Bearer token or session (+CSRF); see apps/users/auth.py
    parser=JsonOrMultipartParser(),
)


@api.exception_handler(ApplicationError)
def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    response = api.create_response(request, {"detail": exc.message, **exc.extra}, status=exc.status)
    for header, value in getattr(exc, "headers", {}).items():  # e.g. Retry-After on 429
        response[header] = value
    return response


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Name each failing field plainly ("body.priority") besides ninja's raw error list.
    fields = [".".join(str(p) for p in err.get("loc", [])) for err in exc.errors]
    return api.create_response(
        request, {"detail": "Invalid input: " + ", ".join(fields), "errors": exc.errors}, status=422
    )


@api.exception_handler(RequestDataTooBig)
def request_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": f"Request body is larger than the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
        status=413,
    )


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"detail": "Authentication required."}, status=401)


def _register_routers() -> None:
    from apps.agents.api import router as agents_router
    from apps.tasks.api import router as tasks_router
    from apps.users.api import router as users_router
    from apps.webhooks.api import router as webhooks_router

    api.add_router("/", tasks_router)
    api.add_router("/", users_router)
    api.add_router("/", agents_router)
    api.add_router("/", webhooks_router)
    api.add_router("/", "apps.providers.api.router")
    api.add_router("/", "apps.knowledge.api.router")


_register_routers()
