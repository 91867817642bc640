"""Charts an agent produced, shown inline on a task's page: the same permission check as the
artefact download, but served as the image it is. Only PNG files (checked by their signature,
not by their name) are served this way; anything else stays a download."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.core.exceptions import NotFound
from apps.knowledge.selectors import artefact_get_for_user
from apps.users.decorators import login_required

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 10 * 1024 * 1024


@require_GET
@login_required
def artefact_image(request: HttpRequest, artefact_id: uuid.UUID) -> HttpResponse:
    try:
        artefact = artefact_get_for_user(user=request.user, artefact_id=artefact_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    if artefact.size > MAX_IMAGE_BYTES:
        raise Http404("This file is too large to show inline; download it instead.")
    with artefact.file.open("rb") as handle:
        content = handle.read(MAX_IMAGE_BYTES + 1)
    if not content.startswith(PNG_SIGNATURE):
        raise Http404("This file is not a PNG image; download it instead.")
    response = HttpResponse(content, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = f'inline; filename="{artefact.pk}.png"'
    return response
