"""S3 down when an upload's transaction commits: the artefact row commits with a PendingStore row,
the staged file is kept (the sweep leaves it), downloads answer 503 "not stored yet", retries back
off while S3 stays down, and once S3 is back a retry moves the file and the download works.

S3 is moto's server in a process of its own, really stopped and started again on the same port
(moto keeps buckets in memory, so the bucket is created again, as it was)."""

from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from amas.testing.s3 import MotoS3Server
from apps.knowledge.models import Artefact, PendingStore
from apps.knowledge.services import artefact_create
from apps.knowledge.staging import pending_stores_retry, staging_sweep
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db(transaction=True)

STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


@pytest.fixture
def s3(settings):
    server = MotoS3Server()
    server.start()
    bucket = server.create_bucket()
    settings.STORAGES = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": server.storage_options(bucket)},
        "staticfiles": STATIC,
    }
    yield server, bucket
    server.stop()


def make_due() -> None:
    PendingStore.objects.update(next_attempt_at=timezone.now())


def test_an_upload_committed_while_s3_is_down_is_stored_once_s3_is_back(s3, client, analyst):
    server, bucket = s3
    task = make_task(analyst.organization, created_by=analyst)
    body = b"evidence " * 1000
    server.stop()

    with transaction.atomic():
        artefact = artefact_create(
            task=task, file=ContentFile(body, name="evidence.bin"), uploaded_by=analyst
        )

    # The row committed; its file waits in staging, recorded in the same transaction.
    assert Artefact.objects.filter(pk=artefact.pk).exists()
    pending = PendingStore.objects.get(artefact=artefact)
    assert pending.attempts == 1 and pending.last_error
    staged = Path(pending.staged_path)
    assert staged.read_bytes() == body

    client.force_login(analyst)
    page = client.get(f"/artefacts/{artefact.pk}/download")
    assert page.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert page["Retry-After"] and b"not stored yet" in page.content
    api = client.get(f"/api/v1/artefacts/{artefact.pk}/download")
    assert api.status_code == HTTPStatus.SERVICE_UNAVAILABLE, api.content
    assert api.json()["code"] == "file_not_yet_stored" and api["Retry-After"]

    # Not due yet: nothing is tried. Due while S3 is still down: fails again, backs off further.
    PendingStore.objects.update(next_attempt_at=timezone.now() + timedelta(hours=1))
    assert pending_stores_retry() == 0
    assert PendingStore.objects.get(pk=pending.pk).attempts == 1
    make_due()
    before = timezone.now()
    assert pending_stores_retry() == 0
    pending.refresh_from_db()
    assert pending.attempts == 2
    assert pending.next_attempt_at >= before + timedelta(seconds=4)  # 2 s doubled per attempt
    assert staging_sweep(max_age=0) == 0 and staged.exists()  # kept for the retry

    server.start()  # same port
    server.client().create_bucket(Bucket=bucket)
    make_due()
    assert pending_stores_retry() == 1
    assert not PendingStore.objects.exists()
    assert not staged.exists()

    response = client.get(f"/artefacts/{artefact.pk}/download")
    assert response.status_code == HTTPStatus.FOUND
    assert httpx.get(response["Location"]).content == body


def test_a_row_whose_file_reached_storage_before_a_crash_is_cleared(s3, analyst):
    """The move succeeded but the process died before deleting the row: the retry sees the file
    in storage and the staged file gone, and only clears the row (no second copy)."""
    task = make_task(analyst.organization, created_by=analyst)
    with transaction.atomic():
        artefact = artefact_create(task=task, file=ContentFile(b"done", name="done.txt"))
    assert not PendingStore.objects.exists()
    PendingStore.objects.create(
        artefact=artefact,
        key=artefact.file.name,
        staged_path="/nonexistent/upload-x",
        host=_host(),
        next_attempt_at=timezone.now(),
    )
    assert pending_stores_retry() == 1
    assert not PendingStore.objects.exists()
    assert Artefact.objects.get(pk=artefact.pk).file.name == artefact.file.name


def _host() -> str:
    import socket

    return socket.gethostname()
