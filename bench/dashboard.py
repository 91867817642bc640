"""Dashboard pages with 10,000 tasks: server time of each page through daphne, against the bare
`/health` view on the same server in the same run (the cost of Django + daphne + one request).

    venv/bin/python bench/dashboard.py [--tasks 10000] [--n 40]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from _stack import BenchStack, percentile

STATUSES = ["completed", "completed", "completed", "failed", "running", "queued", "cancelled", "timed_out"]


def seed(n_tasks: int):  # returns (user, a task id)
    from django.db import connection
    from django.utils import timezone

    from apps.tasks.models import Result, Task, TaskEvent, TaskStep
    from apps.tasks.stats import stats_refresh
    from apps.users.models import Role, User
    from apps.users.services import organization_get_or_create

    org = organization_get_or_create(name="Bench dashboard")
    user = User.objects.create_user("dash@example.org", "bench-password-123", organization=org, role=Role.ANALYST)
    now = timezone.now()
    tasks = Task.objects.bulk_create(
        Task(
            organization=org,
            created_by=user,
            title=f"Investigate host-{i}.example.org",
            target=f"host-{i}.example.org",
            task_type="investigation" if i % 3 else "custom",
            status=STATUSES[i % len(STATUSES)],
            priority=1 + i % 10,
            started_at=now - timedelta(minutes=i),
            finished_at=now - timedelta(minutes=i) + timedelta(seconds=3),
            summary={"text": "nothing found", "data": {"finding_count": 0}},
        )
        for i in range(n_tasks)
    )
    steps = TaskStep.objects.bulk_create(
        TaskStep(task=t, agent_type="bench_noop", status="completed", progress=100) for t in tasks
    )
    Result.objects.bulk_create(
        Result(
            task_id=s.task_id,
            step=s,
            agent=s.agent_type,
            status="completed",
            processing_time_ms=12,
            data={"findings": [{"severity": "low", "title": "x"}] * 5},
        )
        for s in steps
    )
    TaskEvent.objects.bulk_create(
        TaskEvent(task=t, seq=seq, type="step.progress", payload={"agent": "bench_noop", "progress": seq * 10})
        for t in tasks
        for seq in range(1, 11)
    )
    Task.objects.update(last_event_seq=10)
    stats_refresh()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return user, tasks[0].pk


def client_for(base_url: str, user):
    import httpx
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.cached_db import SessionStore

    session = SessionStore()
    session.update(
        {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
    )
    session.save()
    return httpx.Client(base_url=base_url, cookies={settings.SESSION_COOKIE_NAME: session.session_key}, timeout=30)


def timed(client, url: str, n: int) -> tuple[float, float]:
    client.get(url).raise_for_status()  # warm up
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return percentile(times, 50), percentile(times, 95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()

    stack = BenchStack()
    try:
        stack.start()
        user, task_id = seed(args.tasks)
        base_url = stack.start_web()
        pages = [
            ("overview", "/"),
            ("tasks", "/tasks/"),
            ("tasks, filtered + sorted", "/tasks/?status=failed&q=host-1&sort=-priority"),
            ("tasks, by agent, page 40", "/tasks/?agent=bench_noop&page=40"),
            ("task detail", f"/tasks/{task_id}/"),
            ("monitor", "/monitor/"),
            ("agents", "/agents/"),
            ("providers", "/providers/"),
            ("new task form", "/tasks/new/"),
        ]
        with client_for(base_url, user) as client:
            base50, base95 = timed(client, "/health", args.n)
            rows = [(name, *timed(client, url, args.n)) for name, url in pages]
    finally:
        stack.stop()

    print(f"\nDashboard pages with {args.tasks} tasks ({args.n} requests each, one at a time)\n")
    print("| page | p50 (ms) | p95 (ms) | p50 vs /health |")
    print("|---|---|---|---|")
    print(f"| baseline: /health | {base50:.1f} | {base95:.1f} | 1.00x |")
    for name, p50, p95 in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / base50:.2f}x |")


if __name__ == "__main__":
    main()
