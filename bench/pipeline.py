"""Pipeline benchmark: no-op tasks submitted through the REST API (daphne) and run by a real
Celery worker, against a bare Celery no-op round trip on the same Redis in the same run.

    venv/bin/python bench/pipeline.py [--latency-n 200] [--throughput-n 1000] [--clients 8] [--cpu]

--cpu adds the CPU each process of the stack spent per task during the throughput run (from
/proc: utime + stime ticks of the process and its children, per role), which stays comparable
when other work shares the machine, unlike the rates, and the benchmark's own CPU per task (its
API client threads and its polling for the end of tasks share the cores with the stack).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

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


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks used so far) for every process we can read. The ticks
    include the process's children that ended and were waited for (cutime, cstime): a Postgres
    backend that served one connection and exited counts towards the postmaster (without them,
    the backends of short-lived connections vanished from the figures)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), sum(int(ticks) for ticks in fields[11:15]))
    return table


def _pidfile(path: Path) -> int:
    return int(path.read_text().split()[0])


class CpuMeter:
    """CPU ticks per role of the benchmark's own processes (found from their root pids)."""

    def __init__(self, stack: BenchStack, *, worker_pid: int, web_pid: int) -> None:
        self.roots = {
            "worker main": worker_pid,
            "web (daphne)": web_pid,
            "postgres": _pidfile(stack.postgres.datadir / "postmaster.pid"),
            "redis": _pidfile(stack.redis.pidfile),
        }
        self.before: dict[str, int] = {}
        self.client_before = 0.0

    def sample(self) -> dict[str, int]:
        table = _proc_table()
        roles: dict[int, str] = {}
        for role, pid in self.roots.items():
            roles[pid] = role
        changed = True
        while changed:  # descendants take their root's role (worker pool children get their own)
            changed = False
            for pid, (ppid, _ticks) in table.items():
                if pid not in roles and ppid in roles:
                    parent = roles[ppid]
                    roles[pid] = "worker children" if parent == "worker main" else parent
                    changed = True
        totals: dict[str, int] = dict.fromkeys([*self.roots, "worker children"], 0)
        for pid, role in roles.items():
            if pid in table:
                totals[role] += table[pid][1]
        return totals

    def start(self) -> None:
        self.before = self.sample()
        self.client_before = time.process_time()

    def per_task_ms(self, tasks: int) -> dict[str, float]:
        after = self.sample()
        client = (time.process_time() - self.client_before) * 1000 / tasks
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        stack = {role: (after[role] - self.before.get(role, 0)) * tick_ms / tasks for role in after}
        return {**stack, CLIENT: client}


CLIENT = "bench client (not the stack)"


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


def http_hello(stack: BenchStack, n: int) -> dict[str, float]:
    """A bare django-ninja hello-world GET through the same web server (amas.web, its own process,
    stopped again before the pipeline runs), one at a time with the same HTTP client library: what
    HTTP alone costs a round trip, so that bare Celery + this is the floor any API-submitted task
    pays, whatever the product does."""
    import httpx

    base_url = stack.start_web(processes=1, app="bench.hello_asgi:application")
    server = stack.processes[-1]
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for _ in range(20):
                client.get("/api/hello").raise_for_status()
            latencies = []
            for _ in range(n):
                started = time.perf_counter()
                client.get("/api/hello").raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def skeleton(stack: BenchStack, n: int) -> dict[str, float]:
    """bench/skeleton.py one at a time through the same server and worker: a POST that INSERTs a
    row and sends a Celery message after the commit, a task that marks the row finished (its
    finished_at, the database's clock, ends the round trip as task.finished_at does AMAS's)."""
    import httpx
    from django.db import connection

    from bench.skeleton import TABLE_SQL

    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL)
    base_url = stack.start_web(processes=1, app="bench.skeleton_asgi:application")
    server = stack.processes[-1]
    latencies = []
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client, connection.cursor() as cursor:
            for i in range(n + 20):  # the first 20 warm up
                at = datetime.now(UTC)
                response = client.post("/submit")
                response.raise_for_status()
                row_id = response.json()["id"]
                deadline = time.monotonic() + 30
                while True:
                    cursor.execute("SELECT finished_at FROM bench_skeleton WHERE id = %s", [row_id])
                    finished = cursor.fetchone()[0]
                    if finished is not None:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("a skeleton task did not finish")
                    time.sleep(0.002)
                if i >= 20:
                    latencies.append((finished - at).total_seconds() * 1000)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def wait_terminal(task_ids: list[str], timeout: float = 600) -> dict[str, datetime]:
    """Poll until the tasks ended (their finished_at, the database's clock, is what is measured;
    the polling only decides when the next submission starts). One precompiled statement per poll:
    the ORM's query compilation made the one-at-a-time phase's polling (every 2 ms) cost the
    benchmark ~5 ms of CPU per task on the cores the stack runs on."""
    import uuid

    from django.db import connection

    from apps.tasks.models import TERMINAL_STATUSES

    deadline = time.monotonic() + timeout
    pending = {uuid.UUID(task_id) for task_id in task_ids}
    terminal = sorted(TERMINAL_STATUSES)
    finished: dict[str, datetime] = {}
    with connection.cursor() as cursor:
        while pending:
            cursor.execute(
                'SELECT "id", "finished_at", "status" FROM "tasks_task" '
                'WHERE "id" = ANY(%s) AND "status" = ANY(%s)',
                [list(pending), terminal],
            )
            for pk, finished_at, status in cursor.fetchall():
                if status != "completed":
                    raise RuntimeError(f"task {pk} ended {status}")
                finished[str(pk)] = finished_at
                pending.discard(pk)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} tasks did not finish")
            time.sleep(0.002 if len(task_ids) == 1 else 0.05)
    return finished


def pipeline(
    client, latency_n: int, throughput_n: int, clients: int, meter: CpuMeter | None = None
) -> dict[str, float]:
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
    latency_cpu = time.process_time()
    for _ in range(latency_n):
        task_id, at = submit()
        finished = wait_terminal([task_id])[task_id]
        latencies.append((finished - at).total_seconds() * 1000)
    post_p50 = percentile(post_ms, 50)
    latency_cpu_ms = (time.process_time() - latency_cpu) * 1000 / max(1, latency_n)
    recent = Task.objects.order_by("-created_at")[:latency_n]
    worker_ms = [(t.finished_at - t.queued_at).total_seconds() * 1000 for t in recent]
    if meter is not None:
        meter.start()
    started = datetime.now(UTC)
    with ThreadPoolExecutor(clients) as pool:
        submitted = list(pool.map(lambda _: submit(), range(throughput_n)))
    submit_elapsed = (datetime.now(UTC) - started).total_seconds()
    finished = wait_terminal([task_id for task_id, _ in submitted])
    elapsed = (max(finished.values()) - started).total_seconds()
    under_load = [(finished[t] - at).total_seconds() * 1000 for t, at in submitted]
    cpu = meter.per_task_ms(throughput_n) if meter is not None else {}
    return {
        **{f"cpu:{role}": ms for role, ms in cpu.items()},
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "rate": throughput_n / elapsed,
        "submit_rate": throughput_n / submit_elapsed,
        "load_p50": percentile(under_load, 50),
        "load_p99": percentile(under_load, 99),
        "mean": statistics.mean(latencies),
        "post_p50": post_p50,
        "queued_to_finished_p50": percentile(worker_ms, 50),
        "client_cpu_one_at_a_time": latency_cpu_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument("--throughput-n", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--web-processes", type=int, default=1, help="daphne processes (amas.web)")
    parser.add_argument(
        "--cpu", action="store_true", help="print CPU ms per task per process during the throughput run"
    )
    args = parser.parse_args()

    stack = BenchStack()
    try:
        stack.start()
        stack.start_worker(concurrency=args.worker_concurrency)
        base_url = stack.start_web(processes=args.web_processes)
        worker, web = stack.processes[0].pid, stack.processes[1].pid
        meter = CpuMeter(stack, worker_pid=worker, web_pid=web) if args.cpu else None
        bare = bare_celery(args.latency_n, args.throughput_n)
        hello = http_hello(stack, args.latency_n)
        floor = skeleton(stack, args.latency_n)
        with session_client(base_url) as client:
            pipe = pipeline(client, args.latency_n, args.throughput_n, args.clients, meter)
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
        f"| reference: HTTP hello-world GET p50, same server | | {hello['p50']:.1f} ms | |\n"
        f"| reference: skeleton task p50 (bench/skeleton.py: POST -> INSERT, commit -> Celery -> "
        f"UPDATE, commit) | {bare['p50']:.1f} ms | {floor['p50']:.1f} ms | {floor['p50'] / bare['p50']:.2f}x |\n"
        f"| AMAS round trip p50 against the skeleton's | {floor['p50']:.1f} ms | {pipe['p50']:.1f} ms | "
        f"{pipe['p50'] / floor['p50']:.2f}x |"
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
    cpu = {key.removeprefix("cpu:"): ms for key, ms in pipe.items() if key.startswith("cpu:")}
    if cpu:
        print(f"\nCPU per task during the throughput run ({args.throughput_n} tasks)\n")
        print("| process | CPU ms per task |")
        print("|---|---|")
        for role, ms in cpu.items():
            if role != CLIENT:
                print(f"| {role} | {ms:.1f} |")
        print(f"| total (the stack) | {sum(ms for role, ms in cpu.items() if role != CLIENT):.1f} |")
        print(f"| {CLIENT} | {cpu[CLIENT]:.1f} |")
        print(f"| {CLIENT}, one at a time (POST + polling) | {pipe['client_cpu_one_at_a_time']:.1f} |")


if __name__ == "__main__":
    main()
