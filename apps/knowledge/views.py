import uuid

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from apps.core.exceptions import NotFound
from apps.knowledge.selectors import artefact_get_for_user
from apps.knowledge.storage import FileNotYetStored, artefact_presigned_url, artefact_require_stored
from apps.users.decorators import login_required


@require_GET
@login_required
def artefact_download(request: HttpRequest, artefact_id: uuid.UUID) -> HttpResponseBase:
    """Download an artefact; only members of its organization may. Always served as an attachment
    of an opaque type so an uploaded HTML or SVG file never renders in our origin."""
    try:
        artefact = artefact_get_for_user(user=request.user, artefact_id=artefact_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    try:
        artefact_require_stored(artefact)
    except FileNotYetStored as exc:
        return HttpResponse(exc.message, status=exc.status, headers=exc.headers, content_type="text/plain")
    presigned = artefact_presigned_url(artefact)  # S3: a short-lived URL, after the check above
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
