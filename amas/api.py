"""The REST API under /api/v1/. Each app contributes a router; domain errors map to HTTP here."""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.parser import Parser

from apps.core.api_parsing import screen_request
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
api.add_decorator(screen_request, mode="view")


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
    # JSON bodies (and a multipart request's `payload` field) are bounded; files are not read here.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    where = "The `payload` field" if request.content_type == "multipart/form-data" else "The JSON body"
    return api.create_response(
        request,
        {
            "detail": f"{where} is larger than AMAS_MAX_BODY_BYTES ({limit} bytes); send files as "
            "multipart `files` (up to AMAS_MAX_FILE_BYTES each).",
            "limit": "body_bytes",
            "max": limit,
        },
        status=413,
    )


@api.exception_handler(MultiPartParserError)
def malformed_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    return api.create_response(request, {"detail": f"Malformed multipart body: {exc}"}, status=400)


@api.exception_handler(SuspiciousOperation)
def suspicious_request(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # e.g. more fields or files than Django's DATA_UPLOAD_MAX_NUMBER_* allow
    return api.create_response(request, {"detail": str(exc) or "Request refused."}, status=400)


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
    api.add_router("/", "apps.cases.api.router")
    api.add_router("/", "apps.eventsinks.api.router")


_register_routers()
