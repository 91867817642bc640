"""The HTTP answer for an artefact download, after the caller's permission check: a short-lived
presigned redirect on S3, else the file streamed as an opaque attachment (an uploaded HTML or SVG
file never renders in our origin)."""

from __future__ import annotations

from django.http import FileResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

from apps.knowledge.models import Artefact
from apps.knowledge.storage import artefact_presigned_url, artefact_require_stored


def artefact_download_response(artefact: Artefact) -> HttpResponseBase:
    artefact_require_stored(artefact)  # 503 while a failed move into storage is retried
    presigned = artefact_presigned_url(artefact)
    if presigned is not None:
        redirect = HttpResponseRedirect(presigned)
        redirect["Cache-Control"] = "private, no-store"
        return redirect
    response = FileResponse(
        artefact.file.open("rb"),
        as_attachment=True,
        filename=artefact.original_name,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
