"""Upload limits and untrusted file names, at the service the upload API calls first."""

from http import HTTPStatus

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.exceptions import PayloadTooLarge
from apps.knowledge.services import artefact_check_limits, artefact_create, artefact_read, safe_filename
from apps.tasks.models import Task


def upload(name: str, size: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"x" * size)


def test_within_limits_passes(settings):
    settings.AMAS_MAX_FILE_BYTES, settings.AMAS_MAX_FILES_PER_TASK, settings.AMAS_MAX_TOTAL_BYTES = (
        100,
        3,
        250,
    )
    artefact_check_limits([upload("a", 100), upload("b", 100), upload("c", 50)])


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ([("a", 101)], "file_bytes"),
        ([("a", 1)] * 4, "files_per_task"),
        ([("a", 100), ("b", 100), ("c", 51)], "total_bytes"),
    ],
)
def test_over_a_limit_is_413(settings, files, limit):
    settings.AMAS_MAX_FILE_BYTES, settings.AMAS_MAX_FILES_PER_TASK, settings.AMAS_MAX_TOTAL_BYTES = (
        100,
        3,
        250,
    )
    with pytest.raises(PayloadTooLarge) as caught:
        artefact_check_limits([upload(n, s) for n, s in files])
    assert caught.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert caught.value.extra["limit"] == limit


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("..", "upload"),
        (".bashrc", "bashrc"),
        ("in\x00voice\r\n.pdf", "in_voice_.pdf"),
        ("", "upload"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_file_names_never_act_as_paths(raw, safe):
    assert safe_filename(raw) == safe


@pytest.mark.django_db(transaction=True)  # the file reaches storage on commit
def test_stored_under_our_key_with_the_name_as_metadata(organization, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    task = Task.objects.create(organization=organization, title="t", task_type="file_analysis")
    artefact = artefact_create(task=task, file=ContentFile(b"%PDF-1.4 hello", name="../../x/evil.pdf"))
    assert artefact.original_name == "evil.pdf"
    assert artefact.file.name == f"artefacts/{organization.id}/{task.id}/{artefact.id.hex}"
    assert artefact.detected_type == "application/pdf"
    assert artefact_read(artefact) == b"%PDF-1.4 hello"
    assert artefact_read(artefact, limit=4) == b"%PDF"
