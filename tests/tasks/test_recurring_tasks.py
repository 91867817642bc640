import json

import pytest
from django_celery_beat.models import PeriodicTask

from apps.tasks.models import Task
from apps.tasks.tasks import scheduled_run_task
from tests.tasks.conftest import wait_for_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_schedule_creates_a_beat_entry_and_each_run_is_a_child_task(api, celery_worker):
    response = api.post(
        "/api/v1/tasks",
        {
            "title": "hourly",
            "task_type": "custom",
            "agents": ["test_echo"],
            "schedule": {"every_seconds": 3600},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    parent = Task.objects.get(pk=response.json()["id"])
    assert response.json()["is_recurring"] is True
    assert parent.status == "pending"  # a definition: only its runs execute
    entry = PeriodicTask.objects.get(pk=parent.schedule_id)
    assert entry.task == "tasks.run_scheduled"
    assert entry.interval.every == 3600
    assert json.loads(entry.args) == [str(parent.id)]

    # What beat sends when the interval elapses:
    for _ in range(2):
        scheduled_run_task.apply_async(args=[str(parent.id)], queue="maintenance").get(timeout=30)
    runs = api.get(f"/api/v1/tasks/{parent.id}/runs").json()["items"]
    assert len(runs) == 2
    for run in runs:
        assert run["parent_id"] == str(parent.id)
        assert wait_for_task(run["id"]).status == "completed"

    assert api.post(f"/api/v1/tasks/{parent.id}/cancel").status_code == 200
    entry.refresh_from_db()
    assert entry.enabled is False


def test_bad_crontab_is_422(api):
    response = api.post(
        "/api/v1/tasks",
        {"title": "x", "task_type": "custom", "agents": ["test_echo"], "schedule": {"crontab": "* *"}},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "crontab" in response.json()["detail"]
    assert not PeriodicTask.objects.filter(name__startswith="amas-task-").exists()
