"""Where artefact bytes are served from. On S3 (AWS_STORAGE_BUCKET_NAME set) a download is a
short-lived presigned URL, issued by the download view only after its permission check, so the
bytes never pass through a web process; on local storage the view streams the file itself."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.utils.http import content_disposition_header

from apps.core.exceptions import ApplicationError
from apps.knowledge.models import Artefact, PendingStore


class FileNotYetStored(ApplicationError):
    """The artefact's row is committed but its file is still waiting for a retried move into
    storage (storage was unreachable at commit; apps/knowledge/staging.py)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    headers = {"Retry-After": "10"}


def artefact_require_stored(artefact: Artefact) -> None:
    """Raise FileNotYetStored (503) before a download of a file that is not in storage yet."""
    if PendingStore.objects.filter(artefact_id=artefact.pk).exists():
        raise FileNotYetStored(
            "The file is not stored yet: storage was unavailable when it was saved and the move "
            "is being retried. Try again shortly.",
            extra={"code": "file_not_yet_stored"},
        )


def artefact_presigned_url(artefact: Artefact) -> str | None:
    """A presigned GET URL for an artefact stored on S3, or None when storage is local.

    The URL forces an attachment of an opaque type (like the local download does) and expires
    after AWS_QUERYSTRING_EXPIRE seconds."""
    from storages.backends.s3 import S3Storage

    storage = artefact.file.storage
    if not isinstance(storage, S3Storage):
        return None
    return storage.url(
        artefact.file.name,
        parameters={
            "ResponseContentDisposition": content_disposition_header(True, artefact.original_name),
            "ResponseContentType": "application/octet-stream",
            "ResponseCacheControl": "private, no-store",
        },
        expire=getattr(storage, "querystring_expire", None) or settings.AWS_QUERYSTRING_EXPIRE,
    )
