from http import HTTPStatus

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import readiness


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Deliberately touches no dependency."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    results = readiness()
    failed = [r.name for r in results if not r.ok]
    body = {
        "status": "ready" if not failed else "unavailable",
        "failed": failed,
        "checks": {r.name: r.as_dict() for r in results},
    }
    return JsonResponse(body, status=HTTPStatus.SERVICE_UNAVAILABLE if failed else HTTPStatus.OK)
