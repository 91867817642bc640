"""Artefacts on local storage and on S3 (moto's server), with the same assertions: what is
stored comes back byte for byte, only the task's organisation may download it, and a large
upload streams instead of being held in memory."""

import hashlib
import os
import tracemalloc
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from apps.knowledge.services import artefact_create
from tests.tasks.factories import make_task

# transaction=True: an artefact's file reaches storage when its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


@pytest.fixture(params=["local", "s3"])
def storage_kind(request, settings, tmp_path):
    if request.param == "local":
        settings.STORAGES = {
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path)},
            },
            "staticfiles": STATIC,
        }
    else:
        server = request.getfixturevalue("s3_server")
        bucket = server.create_bucket()
        settings.STORAGES = {
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": server.storage_options(bucket),
            },
            "staticfiles": STATIC,
        }
        request.node.s3 = (server, bucket)
    return request.param


def download(client, artefact_id):
    """What a browser ends up with: follows the redirect to a presigned URL when there is one.
    Returns (status, body, content-disposition, cache-control of the app's response)."""
    response = client.get(f"/artefacts/{artefact_id}/download")
    if response.status_code == HTTPStatus.FOUND and response["Location"].startswith("http"):
        fetched = httpx.get(response["Location"])
        return fetched.status_code, fetched.content, fetched.headers.get("content-disposition"), response
    if response.status_code != HTTPStatus.OK:
        return response.status_code, b"", None, response
    return (
        response.status_code,
        b"".join(response.streaming_content),
        response["Content-Disposition"],
        response,
    )


def test_stored_artefact_downloads_for_its_organisation(storage_kind, client, analyst, request):
    task = make_task(analyst.organization, created_by=analyst)
    body = b"%PDF-1.4 report body " * 100
    artefact = artefact_create(
        task=task, file=SimpleUploadedFile("report.pdf", body, "application/pdf"), uploaded_by=analyst
    )
    assert artefact.sha256 == hashlib.sha256(body).hexdigest()
    assert artefact.size == len(body)

    client.force_login(analyst)
    status, content, disposition, response = download(client, artefact.id)

    assert status == HTTPStatus.OK
    assert content == body
    assert disposition.startswith("attachment")
    assert "report.pdf" in disposition
    assert response["Cache-Control"] == "private, no-store"
    if storage_kind == "s3":
        server, bucket = request.node.s3
        keys = [o["Key"] for o in server.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == [artefact.file.name]
        query = parse_qs(urlsplit(response["Location"]).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["300"]
        assert urlsplit(response["Location"]).path.startswith(f"/{bucket}/")  # path-style


def test_other_organisations_and_anonymous_get_nothing(storage_kind, client, analyst, user_factory):
    from apps.users.services import organization_get_or_create

    task = make_task(analyst.organization, created_by=analyst)
    artefact = artefact_create(task=task, file=SimpleUploadedFile("notes.txt", b"secret notes"))
    outsider = user_factory(org=organization_get_or_create(name="Elsewhere Ltd"))

    anonymous = client.get(f"/artefacts/{artefact.id}/download")
    assert anonymous.status_code == HTTPStatus.FOUND
    assert "/accounts/login" in anonymous["Location"]
    client.force_login(outsider)
    status, content, _, response = download(client, artefact.id)
    assert status == HTTPStatus.NOT_FOUND
    assert content == b""
    assert "Location" not in response


def test_large_upload_streams_through_storage(storage_kind, analyst, tmp_path):
    size = 64 * 1024 * 1024
    upload = TemporaryUploadedFile("capture.bin", "application/octet-stream", size, None)
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        upload.write(block)
        digest.update(block)
    upload.seek(0)
    task = make_task(analyst.organization, created_by=analyst)
    # Warm up: the first S3 client of a process loads botocore's service models (~10 MiB, once).
    artefact_create(task=task, file=SimpleUploadedFile("warm-up.txt", b"warm up"))

    tracemalloc.start()
    try:
        artefact = artefact_create(task=task, file=upload, uploaded_by=analyst)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        upload.close()

    assert artefact.size == size
    assert artefact.sha256 == digest.hexdigest()
    # Held in memory at once: a few transfer buffers (S3: AWS_S3_UPLOAD_BUFFERS parts of
    # AWS_S3_UPLOAD_PART_BYTES, plus the one being read), never the 64 MiB file.
    assert peak < size / 2, f"peak {peak / 2**20:.1f} MiB"
    with artefact.file.open("rb") as stored:
        again = hashlib.sha256()
        while chunk := stored.read(1024 * 1024):
            again.update(chunk)
    assert again.hexdigest() == digest.hexdigest()
