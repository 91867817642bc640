"""File tasks through the API (multipart upload) on a real Celery worker, one per agent, and the
upload limits: over a limit is 413 with nothing stored."""

import os
from http import HTTPStatus

import pytest

from apps.core.vocabulary import TaskType
from apps.knowledge.models import Artefact
from apps.tasks.models import Result, Task
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, submit_with_files, wait_for_task  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    return client


def result_of(task, agent):
    return Result.objects.get(task=task, agent=agent)


def test_forensics_task_end_to_end(api, celery_worker):
    response = submit_with_files(
        api,
        {"invoice.pdf": ff.pdf_with_javascript(), "holiday.jpg": ff.jpeg_with_gps()},
        task_type=TaskType.FILE_ANALYSIS,
        agents=["forensics"],
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    task = wait_for_task(response.json()["id"])
    assert task.status == "completed", task.error_message
    result = result_of(task, "forensics")
    assert result.status == "completed"
    assert result.data["verdict"] == "suspicious"
    assert [f["name"] for f in result.data["files"]] == ["invoice.pdf", "holiday.jpg"]
    uploads = Artefact.objects.filter(task=task, produced_by_agent="")
    assert {a.original_name for a in uploads} == {"invoice.pdf", "holiday.jpg"}
    assert all(a.uploaded_by_id is not None for a in uploads)
    assert Artefact.objects.filter(task=task, produced_by_agent="forensics").count() == 1
    assert "invoice.pdf" in task.summary["text"]


def test_analysis_task_end_to_end(api, celery_worker):
    response = submit_with_files(
        api,
        {"metrics.csv": ff.metrics_csv(), "report.txt": ff.report_text()},
        task_type=TaskType.DATA_ANALYSIS,
        parameters={"analysis": {"summary_sentences": 3}},
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    task = wait_for_task(response.json()["id"])
    assert task.status == "completed", task.error_message
    assert [step.agent_type for step in task.steps.filter(is_aggregate=False)] == [
        "analysis"
    ]  # chosen, not pinned
    data = result_of(task, "analysis").data
    assert sorted(r["row"] for r in data["tables"][0]["outliers"]["rows"][:3]) == sorted(ff.OUTLIER_ROWS)
    assert [s["text"] for s in data["documents"][0]["summary"]["extractive"]] == ff.KEY_SENTENCES
    charts = Artefact.objects.filter(task=task, produced_by_agent="analysis")
    assert charts.count() == len(data["tables"][0]["charts"]) >= 3
    download = api.get(f"/artefacts/{charts.first().id}/download")
    assert download.status_code == HTTPStatus.OK
    assert b"".join(download.streaming_content).startswith(b"\x89PNG")


def test_ml_task_end_to_end(api, celery_worker):
    log, planted = ff.auth_log()
    response = submit_with_files(api, {"auth.log": log}, task_type=TaskType.ANOMALY_DETECTION, agents=["ml"])
    assert response.status_code == HTTPStatus.CREATED, response.content
    task = wait_for_task(response.json()["id"])
    assert task.status == "completed", task.error_message
    top = result_of(task, "ml").data["anomalies"][0]["top"][:3]
    assert sorted(t["line"] for t in top) == planted


def test_upload_over_a_limit_is_413_and_stores_nothing(api, settings):
    settings.AMAS_MAX_FILE_BYTES = 1000
    response = submit_with_files(
        api,
        {"small.txt": "x" * 10, "big.bin": b"\x00" * 1001},
        task_type=TaskType.FILE_ANALYSIS,
        agents=["forensics"],
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["limit"] == "file_bytes"
    assert not Task.objects.exists() and not Artefact.objects.exists()
    assert not any(files for _, _, files in os.walk(settings.MEDIA_ROOT))


def test_too_many_files_is_413(api, settings):
    settings.AMAS_MAX_FILES_PER_TASK = 2
    response = submit_with_files(
        api, {f"f{i}.txt": "x" for i in range(3)}, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"]
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["limit"] == "files_per_task"
    assert not Task.objects.exists()
