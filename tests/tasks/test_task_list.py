from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tasks.models import Task
from apps.tasks.stats import stats_refresh

pytestmark = pytest.mark.django_db


def make(user, **fields):
    defaults = {
        "title": "t",
        "task_type": "custom",
        "organization_id": user.organization_id,
        "created_by": user,
    }
    return Task.objects.create(**{**defaults, **fields})


def test_filters_narrow_the_list(api, user_factory):
    from apps.users.services import organization_get_or_create

    me = api.user
    make(me, title="Investigate example.org", task_type="investigation", priority=9, status="completed")
    make(me, title="Scan host", task_type="security_scan", priority=2, target="10.0.0.1")
    make(me, title="Old", priority=5, status="failed")
    Task.objects.filter(title="Old").update(created_at=timezone.now() - timedelta(days=10))
    make(user_factory(org=organization_get_or_create(name="Other")), title="Investigate example.org")

    def titles(query: str) -> list[str]:
        response = api.get(f"/api/v1/tasks?{query}")
        assert response.status_code == 200, response.content
        return sorted(t["title"] for t in response.json()["items"])

    assert titles("") == ["Investigate example.org", "Old", "Scan host"]
    assert titles("status=completed") == ["Investigate example.org"]
    assert titles("task_type=security_scan") == ["Scan host"]
    assert titles("priority_min=5") == ["Investigate example.org", "Old"]
    assert titles("priority_min=3&priority_max=6") == ["Old"]
    assert titles("q=10.0.0") == ["Scan host"]
    after = (timezone.now() - timedelta(days=1)).isoformat().replace("+", "%2B")
    assert titles(f"created_after={after}") == ["Investigate example.org", "Scan host"]
    page = api.get("/api/v1/tasks?page_size=2&page=2").json()
    assert page["count"] == 3 and len(page["items"]) == 1


def test_list_query_count_does_not_grow_with_rows(api, django_assert_max_num_queries):
    for i in range(30):
        make(api.user, title=f"t{i}")
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/tasks?page_size=25")
    assert len(response.json()["items"]) == 25


def test_stats_read_model(api):
    now = timezone.now()
    for status in ("completed", "completed", "failed"):
        make(api.user, status=status, started_at=now - timedelta(seconds=4), finished_at=now)
    stats_refresh()
    rows = api.get("/api/v1/stats/tasks").json()
    by_status = {r["status"]: r for r in rows}
    assert by_status["completed"]["count"] == 2
    assert by_status["failed"]["count"] == 1
    assert 3900 <= by_status["completed"]["mean_duration_ms"] <= 4100
    Task.objects.filter(status="failed").update(status="completed")
    stats_refresh()
    rows = api.get("/api/v1/stats/tasks").json()
    assert [(r["status"], r["count"]) for r in rows] == [("completed", 3)]


def test_agent_filter(api):
    from apps.tasks.models import TaskStep

    with_osint = make(api.user, title="with osint")
    make(api.user, title="without")
    TaskStep.objects.create(task=with_osint, agent_type="osint")
    TaskStep.objects.create(task=with_osint, agent_type="security", position=1)
    items = api.get("/api/v1/tasks?agent=osint").json()["items"]
    assert [t["title"] for t in items] == ["with osint"]
