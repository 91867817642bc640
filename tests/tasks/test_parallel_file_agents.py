"""Steps of one task run side by side on the worker (forensics, analysis and ml on one file):
each finishes on its own, none fails because another holds the task row."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.tasks import services
from apps.tasks.models import Task
from tests.agents.fixtures_runner import wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


def _table_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "requests", "errors", "latency_ms", "region"])
    for i in range(80):
        writer.writerow([f"2026-03-{1 + i % 28:02d}", 1000 + (i * 37) % 200, 3 + i % 5, 120 + i % 40, "eu"])
    return out.getvalue().encode()


@pytest.mark.parametrize("attempt", range(3))
def test_file_agents_of_one_task_all_complete(celery_worker, analyst, attempt):
    task = services.task_create(
        user=analyst,
        title="Traffic export",
        task_type="custom",
        agents=["forensics", "analysis", "ml"],
        parameters={"ml": {"mode": "clustering"}},
        files=[SimpleUploadedFile("traffic.csv", _table_csv(), content_type="text/csv")],
    )
    task = wait_for_task(task.id, timeout=180)
    steps = {s.agent_type: (s.status, s.error_message) for s in Task.objects.get(pk=task.pk).steps.all()}
    assert task.status == "completed", steps
    assert all(status == "completed" for status, _ in steps.values()), steps
