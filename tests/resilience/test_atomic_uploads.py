"""Artefact files reach storage (local or S3) only when their transaction commits: a rollback
leaves nothing behind, neither in storage nor in staging; a crash leaves only a staging file,
which the sweep removes; and the file is in storage before the commit's step messages go out."""

import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from apps.knowledge.models import Artefact
from apps.knowledge.services import artefact_create
from apps.knowledge.staging import staging_sweep
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db(transaction=True)


class Rejected(Exception):
    """What a request failing after the upload was staged (a 422, a conflict) raises."""


def staged_files() -> list[Path]:
    root = Path(settings.AMAS_STAGING_DIR)
    return sorted(root.iterdir()) if root.exists() else []


@pytest.fixture
def task(organization):
    return make_task(organization)


def test_a_committed_upload_is_in_storage_and_not_in_staging(storage_kind, task):
    with transaction.atomic():
        artefact = artefact_create(task=task, file=ContentFile(b"report body", name="report.txt"))
        assert not default_storage.exists(artefact.file.name)  # not before commit
    assert default_storage.exists(artefact.file.name)
    with default_storage.open(artefact.file.name, "rb") as stored:
        assert stored.read() == b"report body"
    assert staged_files() == []


def test_a_rolled_back_upload_leaves_nothing(storage_kind, task):
    with pytest.raises(Rejected), transaction.atomic():
        artefact = artefact_create(task=task, file=ContentFile(b"x" * 500_000, name="big.bin"))
        raise Rejected
    assert not Artefact.objects.filter(pk=artefact.pk).exists()
    assert not default_storage.exists(artefact.file.name)
    assert staged_files() == []


def test_a_rolled_back_savepoint_drops_only_its_upload(storage_kind, task):
    with transaction.atomic():
        kept = artefact_create(task=task, file=ContentFile(b"kept", name="kept.txt"))
        with pytest.raises(Rejected), transaction.atomic():
            dropped = artefact_create(task=task, file=ContentFile(b"dropped", name="dropped.txt"))
            raise Rejected
    assert default_storage.exists(kept.file.name)
    assert not default_storage.exists(dropped.file.name)
    assert staged_files() == []


def test_the_file_is_in_storage_before_other_after_commit_work(storage_kind, task):
    seen = []
    with transaction.atomic():
        # Registered first, like the task outbox that sends step messages on commit.
        transaction.on_commit(lambda: seen.append(default_storage.exists(artefact.file.name)))
        artefact = artefact_create(task=task, file=ContentFile(b"input", name="input.txt"))
    assert seen == [True]


def test_outside_a_transaction_the_file_is_stored_at_once(storage_kind, task):
    """Agents write artefacts in autocommit mode."""
    artefact = artefact_create(task=task, file=ContentFile(b"chart", name="chart.png"), produced_by_agent="x")
    assert default_storage.exists(artefact.file.name)
    assert staged_files() == []


def test_the_sweep_removes_staging_files_a_killed_process_left(tmp_path):
    root = Path(settings.AMAS_STAGING_DIR)
    root.mkdir(parents=True, exist_ok=True)
    stale, fresh = root / "upload-stale", root / "upload-fresh"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in progress")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert staging_sweep(max_age=3600) == 1
    assert not stale.exists() and fresh.exists()
    fresh.unlink()
