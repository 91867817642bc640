import hashlib

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from apps.knowledge.models import Artefact


def artefact_create(
    *,
    task,  # noqa: ANN001 - apps.tasks.models.Task
    file: UploadedFile,
    uploaded_by=None,  # noqa: ANN001
    step=None,  # noqa: ANN001
    produced_by_agent: str = "",
) -> Artefact:
    """Store a file through Django's storage API (local files, or S3 when configured), hashing it
    while it streams in chunks so large files are never held in memory whole."""
    digest = hashlib.sha256()
    size = 0
    for chunk in file.chunks():
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    head = file.read(4096)
    file.seek(0)
    artefact = Artefact(
        organization_id=task.organization_id,
        task=task,
        step=step,
        original_name=(file.name or "upload")[:255],
        size=size,
        sha256=digest.hexdigest(),
        detected_type=detect_type(head),
        content_type=getattr(file, "content_type", "") or "",
        produced_by_agent=produced_by_agent,
        uploaded_by=uploaded_by,
    )
    with transaction.atomic():
        artefact.file.save(artefact.original_name, file, save=False)
        artefact.save()
    return artefact


_MAGIC = [
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"MZ", "application/x-dosexec"),
    (b"\x7fELF", "application/x-elf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xd0\xcf\x11\xe0", "application/x-ole-storage"),
]


def detect_type(head: bytes) -> str:
    """Type from magic bytes, never from the extension (the forensics agent refines this)."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"
