"""Page cost does not grow with the data: with 10,000 tasks in the organisation every page runs
a small, fixed number of queries (no N+1), checked as query counts, never as timings."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.tasks.models import Result, Task, TaskEvent, TaskStep
from apps.tasks.stats import stats_refresh

pytestmark = pytest.mark.django_db

N_TASKS = 10_000
STATUSES = ["completed", "completed", "completed", "failed", "running", "queued", "cancelled", "timed_out"]


@pytest.fixture
def ten_thousand_tasks(analyst):
    now = timezone.now()
    tasks = Task.objects.bulk_create(
        Task(
            organization_id=analyst.organization_id,
            created_by=analyst,
            title=f"Investigate host-{i}.example.org",
            target=f"host-{i}.example.org",
            task_type="investigation" if i % 3 else "custom",
            status=STATUSES[i % len(STATUSES)],
            priority=1 + i % 10,
            started_at=now - timedelta(minutes=i),
            finished_at=now - timedelta(minutes=i) + timedelta(seconds=3),
        )
        for i in range(N_TASKS)
    )
    steps = TaskStep.objects.bulk_create(
        TaskStep(task=t, agent_type="test_echo" if i % 2 else "test_slow", status="completed")
        for i, t in enumerate(tasks)
    )
    Result.objects.bulk_create(
        Result(task_id=s.task_id, step=s, agent=s.agent_type, status="completed", processing_time_ms=10)
        for s in steps[:2000]
    )
    TaskEvent.objects.bulk_create(
        TaskEvent(task=t, seq=seq, type="step.progress", payload={"agent": "test_echo", "progress": seq})
        for t in tasks[:500]
        for seq in range(1, 11)
    )
    stats_refresh()
    with connection.cursor() as cursor:
        # As autovacuum would after a load like this: without statistics the planner guesses
        # one row per table and picks plans no real database would.
        cursor.execute("ANALYZE")
    return tasks


# The bounds have a little headroom over today's counts (session, user and middleware queries
# included); what matters is that they do not depend on the number of tasks, steps or events.
BOUNDS = [
    ("/", 16),
    ("/tasks/", 8),
    ("/tasks/?status=failed&task_type=investigation&priority_min=3&q=host-1&sort=-priority", 8),
    ("/tasks/?agent=test_echo&created_after=2000-01-01&page=3", 8),
    ("/monitor/", 6),
    ("/monitor/?kind=step&text=host", 6),
    ("/agents/", 8),
    ("/providers/", 8),
]


def test_pages_run_a_bounded_number_of_queries(signed_in, ten_thousand_tasks, django_assert_max_num_queries):
    for url, max_queries in BOUNDS:
        with django_assert_max_num_queries(max_queries, info=url):
            response = signed_in.get(url)
        assert response.status_code == 200, url

    task = ten_thousand_tasks[0]
    TaskEvent.objects.bulk_create(
        TaskEvent(task=task, seq=seq, type="step.progress", payload={"progress": seq % 100})
        for seq in range(11, 2000)
    )
    Task.objects.filter(pk=task.pk).update(last_event_seq=1999)
    with django_assert_max_num_queries(14, info="task detail"):
        response = signed_in.get(f"/tasks/{task.pk}/")
    assert response.status_code == 200
    assert "earlier events are not shown" in response.content.decode()
