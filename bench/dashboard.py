"""Dashboard pages with 10,000 tasks: server time of each page through daphne, against the bare
`/health` view on the same server in the same run (the cost of Django + daphne + one request),
and each page's weight (its HTML plus the scripts and stylesheets it links, plus the JSON a page's
script fetches to draw itself).

    venv/bin/python bench/dashboard.py [--tasks 10000] [--n 40] [--baseline /tmp/amas-before]

`--baseline` is a checkout of older code (`git worktree add --detach /tmp/amas-before <commit>`):
a second daphne runs it against the same database in the same run, so the two columns compare
like with like.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _stack import BOOT, ROOT, BenchStack, percentile

from amas.stack import free_port

STATUSES = ["completed", "completed", "completed", "failed", "running", "queued", "cancelled", "timed_out"]


def seed(n_tasks: int):  # returns (user, a task id)
    from django.db import connection
    from django.utils import timezone

    from apps.tasks.models import Result, Task, TaskEvent, TaskStep
    from apps.tasks.stats import stats_refresh
    from apps.users.models import Role, User
    from apps.users.services import organization_get_or_create

    org = organization_get_or_create(name="Bench dashboard")
    user = User.objects.create_user(
        "dash@example.org", "bench-password-123", organization=org, role=Role.ANALYST
    )
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
        TaskEvent(
            task=t, seq=seq, type="step.progress", payload={"agent": "bench_noop", "progress": seq * 10}
        )
        for t in tasks
        for seq in range(1, 11)
    )
    Task.objects.update(last_event_seq=10)
    seed_graph(org.pk, tasks[:GRAPH_TASKS])
    stats_refresh()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return user, tasks[0].pk


GRAPH_TASKS = 60  # tasks whose results relate example.org to one host each: a 60-neighbour centre


def seed_graph(organization_id: int, tasks) -> None:
    from apps.agents.base import Entity, Relation
    from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store

    store = get_graph_store()
    for i, task in enumerate(tasks):
        store.upsert(
            GraphBatch(
                provenance=Provenance(organization_id, str(task.pk), None, "bench_noop"),
                seen_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i),
                relations=[
                    Relation(Entity("domain", "example.org"), "links_to", Entity("domain", task.target)),
                    Relation(
                        Entity("domain", task.target), "resolves_to", Entity("ip", f"192.0.2.{i % 250}")
                    ),
                ],
            )
        )


def start_web(stack: BenchStack, root: Path) -> str:
    """daphne serving the code in `root` (this tree or a baseline checkout) on the same database."""
    import httpx

    port = free_port()
    code = (
        "from daphne.cli import CommandLineInterface\n"
        f"CommandLineInterface().run(['-b', '127.0.0.1', '-p', '{port}', 'amas.asgi:application'])"
    )
    log = (stack.root / f"web-{port}.log").open("ab")
    env = {**os.environ, "PYTHONPATH": str(root)}
    stack.processes.append(
        subprocess.Popen([sys.executable, "-c", BOOT + code], cwd=root, env=env, stdout=log, stderr=log)
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a loaded 2-core machine can take minutes to boot Django
    while True:
        try:
            if httpx.get(url + "/health").status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"daphne ({root}) did not start")
        time.sleep(0.2)


ASSET = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*rel="stylesheet"[^>]*\shref)="(/static/[^"]+)"')


def weight(client, root: Path, url: str) -> tuple[int, int]:
    """(bytes, requests) of a page: its HTML, the static files it links (sizes read from the tree
    that serves them: DEBUG is off, so daphne does not serve /static/) and the JSON the old graph
    page's script fetched to draw itself."""
    response = client.get(url)
    if response.status_code != 200:
        return 0, 0
    html = response.text
    total, requests = len(response.content), 1
    for asset in set(ASSET.findall(html)):
        total += (root / "static" / asset.removeprefix("/static/")).stat().st_size
        requests += 1
    fetched = re.search(r'data-neighbourhood-url="([^"]+)"', html)
    if fetched and "?" in url:
        total += len(client.get(fetched.group(1) + "?" + url.split("?", 1)[1]).content)
        requests += 1
    return total, requests


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
    return httpx.Client(
        base_url=base_url, cookies={settings.SESSION_COOKIE_NAME: session.session_key}, timeout=30
    )


def timed(client, url: str, n: int) -> list[float] | None:
    """Times in ms of n loads of the page, each with the JSON request the old graph page made to
    draw itself; None where this code has no such page."""
    first = client.get(url)  # warm up
    if first.status_code == 404:
        return None
    first.raise_for_status()
    fetched = re.search(r'data-neighbourhood-url="([^"]+)"', first.text)
    extra = fetched.group(1) + "?" + url.split("?", 1)[1] if fetched and "?" in url else None
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        response.raise_for_status()
        if extra:
            client.get(extra).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


PAGES = [
    ("overview", "/"),
    ("tasks", "/tasks/"),
    ("tasks, filtered + sorted", "/tasks/?status=failed&q=host-1&sort=-priority"),
    ("tasks, by agent, page 40", "/tasks/?agent=bench_noop&page=40"),
    ("task detail", "/tasks/{task}/"),
    ("monitor", "/monitor/"),
    ("agents", "/agents/"),
    ("providers", "/providers/"),
    ("new task form", "/tasks/new/"),
    ("graph, 60 neighbours, depth 2", "/graph/?kind=domain&value=example.org&depth=2"),
    ("entity search", "/entities/?q=host-1"),
    ("entity page", "/entities/view/?kind=domain&value=example.org"),
]


ROUNDS = 4  # the trees take turns, page by page, so a change in the machine's load hits both


def measure(clients: dict, trees: dict[str, Path], n: int, task_id) -> dict[str, dict[str, tuple | None]]:
    rows: dict[str, dict[str, tuple | None]] = {label: {} for label in trees}
    for name, url in [("baseline: /health", "/health"), *PAGES]:
        url = url.format(task=task_id)
        times: dict[str, list[float] | None] = {label: [] for label in trees}
        for _ in range(ROUNDS):
            for label in trees:
                if times[label] is not None:
                    got = timed(clients[label], url, max(1, n // ROUNDS))
                    times[label] = None if got is None else [*times[label], *got]  # type: ignore[misc]
        for label, root in trees.items():
            t = times[label]
            rows[label][name] = (
                None
                if t is None
                else (percentile(t, 50), percentile(t, 95), *weight(clients[label], root, url))
            )
    return rows


def _cell(row, i: int, fmt: str) -> str:
    return "—" if row is None else format(row[i], fmt)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    args = parser.parse_args()

    stack = BenchStack()
    try:
        stack.start()
        user, task_id = seed(args.tasks)
        trees = {"now": ROOT}
        if args.baseline:
            trees["before"] = args.baseline.resolve()
        urls = {label: start_web(stack, root) for label, root in trees.items()}
        clients = {label: client_for(url, user) for label, url in urls.items()}
        try:
            results = measure(clients, trees, args.n, task_id)
        finally:
            for client in clients.values():
                client.close()
    finally:
        stack.stop()

    load = os.getloadavg()
    print(
        f"\nDashboard pages with {args.tasks} tasks ({args.n} requests each, one at a time;"
        f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})\n"
    )
    labels = list(trees)
    head = " | ".join(f"{label} p50 (ms) | {label} p95 (ms) | {label} KB (requests)" for label in labels)
    print(f"| page | {head} |" + (" now/before p50 | now/before KB |" if len(labels) > 1 else ""))
    print("|---|" + "---|" * (3 * len(labels) + (2 if len(labels) > 1 else 0)))
    for name in results["now"]:
        cells = []
        for label in labels:
            row = results[label][name]
            kb = "—" if row is None else f"{row[2] / 1024:.1f} ({row[3]})"
            cells += [_cell(row, 0, ".1f"), _cell(row, 1, ".1f"), kb]
        line = f"| {name} | " + " | ".join(cells) + " |"
        if len(labels) > 1:
            now, before = results["now"][name], results["before"][name]
            if now and before:
                line += f" {now[0] / before[0]:.2f}x | {now[2] / before[2]:.2f}x |"
            else:
                line += " — | — |"
        print(line)


if __name__ == "__main__":
    main()
