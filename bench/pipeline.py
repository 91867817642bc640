"""Pipeline benchmark: no-op tasks submitted through the REST API (daphne) and run by a real
Celery worker, against a bare Celery no-op round trip on the same Redis in the same run.

    venv/bin/python bench/pipeline.py [--latency-n 200] [--throughput-n 1000] [--clients 8]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from _stack import BenchStack, percentile


def session_client(base_url: str):
    import httpx
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.cached_db import SessionStore

    from apps.users.models import Role, User
    from apps.users.services import organization_get_or_create

    org = organization_get_or_create(name="Bench")
    user = User.objects.filter(email="bench@example.org").first() or User.objects.create_user(
        "bench@example.org", "bench-password-123", organization=org, role=Role.ANALYST
    )
    session = SessionStore()
    session.update(
        {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
    )
    session.save()
    csrf = "b" * 32
    return httpx.Client(
        base_url=base_url,
        cookies={settings.SESSION_COOKIE_NAME: session.session_key, settings.CSRF_COOKIE_NAME: csrf},
        headers={"X-CSRFToken": csrf, "Referer": base_url + "/", "Origin": base_url},
        timeout=30,
    )


def bare_celery(latency_n: int, throughput_n: int) -> dict[str, float]:
    from apps.core.tasks import noop_task

    noop_task.delay().get(timeout=30)  # warm up
    latencies = []
    for _ in range(latency_n):
        started = time.perf_counter()
        noop_task.delay().get(timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    results = [noop_task.delay() for _ in range(throughput_n)]
    for result in results:
        result.get(timeout=120)
    elapsed = time.perf_counter() - started
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "rate": throughput_n / elapsed,
    }


def wait_terminal(task_ids: list[str], timeout: float = 600) -> dict[str, datetime]:
    from apps.tasks.models import TERMINAL_STATUSES, Task

    deadline = time.monotonic() + timeout
    pending = set(task_ids)
    finished: dict[str, datetime] = {}
    while pending:
        rows = Task.objects.filter(pk__in=list(pending), status__in=TERMINAL_STATUSES).values_list(
            "pk", "finished_at", "status"
        )
        for pk, finished_at, status in rows:
            if status != "completed":
                raise RuntimeError(f"task {pk} ended {status}")
            finished[str(pk)] = finished_at
            pending.discard(str(pk))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} tasks did not finish")
        time.sleep(0.002 if len(task_ids) == 1 else 0.05)
    return finished


def pipeline(client, latency_n: int, throughput_n: int, clients: int) -> dict[str, float]:
    body = {"title": "noop", "task_type": "custom", "agents": ["bench_noop"]}

    post_ms: list[float] = []

    def submit() -> tuple[str, datetime]:
        at = datetime.now(UTC)
        started = time.perf_counter()
        response = client.post("/api/v1/tasks", json=body)
        post_ms.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        return response.json()["id"], at

    wait_terminal([submit()[0]])  # warm up
    from apps.tasks.models import Task

    latencies = []
    post_ms.clear()
    for _ in range(latency_n):
        task_id, at = submit()
        finished = wait_terminal([task_id])[task_id]
        latencies.append((finished - at).total_seconds() * 1000)
    post_p50 = percentile(post_ms, 50)
    recent = Task.objects.order_by("-created_at")[:latency_n]
    worker_ms = [(t.finished_at - t.queued_at).total_seconds() * 1000 for t in recent]
    started = datetime.now(UTC)
    with ThreadPoolExecutor(clients) as pool:
        submitted = list(pool.map(lambda _: submit(), range(throughput_n)))
    submit_elapsed = (datetime.now(UTC) - started).total_seconds()
    finished = wait_terminal([task_id for task_id, _ in submitted])
    elapsed = (max(finished.values()) - started).total_seconds()
    under_load = [(finished[t] - at).total_seconds() * 1000 for t, at in submitted]
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "rate": throughput_n / elapsed,
        "submit_rate": throughput_n / submit_elapsed,
        "load_p50": percentile(under_load, 50),
        "load_p99": percentile(under_load, 99),
        "mean": statistics.mean(latencies),
        "post_p50": post_p50,
        "queued_to_finished_p50": percentile(worker_ms, 50),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument("--throughput-n", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--web-processes", type=int, default=1, help="daphne processes (amas.web)")
    args = parser.parse_args()

    stack = BenchStack()
    try:
        stack.start()
        stack.start_worker(concurrency=args.worker_concurrency)
        base_url = stack.start_web(processes=args.web_processes)
        bare = bare_celery(args.latency_n, args.throughput_n)
        with session_client(base_url) as client:
            pipe = pipeline(client, args.latency_n, args.throughput_n, args.clients)
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.stop()

    print(
        f"\nPipeline vs bare Celery (worker prefork x{args.worker_concurrency}, "
        f"{args.web_processes} web process(es), {args.clients} API clients)\n"
    )
    print("| measure | bare Celery no-op | AMAS no-op task (API -> worker -> completed) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| round trip p50, one at a time | {bare['p50']:.1f} ms | {pipe['p50']:.1f} ms | "
        f"{pipe['p50'] / bare['p50']:.2f}x |"
    )
    print(
        f"| round trip p99, one at a time | {bare['p99']:.1f} ms | {pipe['p99']:.1f} ms | "
        f"{pipe['p99'] / bare['p99']:.2f}x |"
    )
    print(
        f"| throughput ({args.throughput_n} tasks) | {bare['rate']:.0f} tasks/s | {pipe['rate']:.0f} tasks/s | "
        f"{bare['rate'] / pipe['rate']:.2f}x slower |"
    )
    print(
        f"| submit -> completed under load p50 / p99 | | {pipe['load_p50']:.0f} / {pipe['load_p99']:.0f} ms | |"
    )
    print(f"| API submit rate ({args.clients} clients) | | {pipe['submit_rate']:.0f} req/s | |")
    print(f"| of one at a time: POST /tasks p50 | | {pipe['post_p50']:.1f} ms | |")
    print(
        f"| of one at a time: queued -> completed p50 (broker + worker) | {bare['p50']:.1f} ms | "
        f"{pipe['queued_to_finished_p50']:.1f} ms | {pipe['queued_to_finished_p50'] / bare['p50']:.2f}x |"
    )


if __name__ == "__main__":
    main()
