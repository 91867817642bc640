"""Footprint: memory of the whole embedded stack at idle, the way `make run` runs it - embedded
PostgreSQL and Redis, then the Procfile (daphne, a Celery worker with its pool children, beat)
under amas.supervisor - per process and in total.

    venv/bin/python bench/footprint.py [--baseline REV] [--settle 20] [--warm 5] [--heavy]

Per process: RSS, USS (pages only it maps) and PSS (its pages plus its share of shared ones),
from psutil's memory_full_info. Totals:
- "unique": USS of every AMAS process + the PSS sum of PostgreSQL's processes, i.e. Postgres's
  shared memory (shared_buffers etc., mapped by every backend) counted once. This is the issue's
  measure. It leaves out pages a worker's pool children still share with the main process after
  the fork (copy-on-write), so it is a slight under-count.
- "PSS": every page counted once, shared ones split between the processes that map them - the
  stricter figure (it includes the copy-on-write pages and shares of common libraries).
- "RSS": the naive sum, which counts shared pages again in each process.

`--baseline REV` measures a git revision first in the same run: the revision is checked out in a
temporary `git worktree` (the shared working tree is not touched), its Procfile and code run
against a fresh stack of their own, measured by this same script, and the worktree is removed.

`--heavy` then runs an ML and an analysis step and measures again: the pool child that ran them
loaded numpy/scikit-learn/matplotlib, and is replaced by a lean fork once it is above
AMAS_WORKER_MAX_MEMORY_PER_CHILD_MIB (a new child pid in the table).

"Idle" is after `/ready` answers, a few no-op tasks and page loads (`--warm`, so each process
has loaded what a first use loads), and `--settle` seconds of nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _stack import ROOT, BenchStack
from memory import BODY, programs, start_supervised
from pipeline import wait_terminal


def _tree(pid: int) -> list[psutil.Process]:
    try:
        main = psutil.Process(pid)
        return [main, *sorted(main.children(recursive=True), key=lambda p: p.pid)]
    except psutil.NoSuchProcess:
        return []


def _row(group: str, name: str, proc: psutil.Process) -> dict | None:
    try:
        info = proc.memory_full_info()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return {
        "group": group,
        "process": name,
        "pid": proc.pid,
        "rss": info.rss / 2**20,
        "uss": info.uss / 2**20,
        "pss": info.pss / 2**20,
    }


def measure(stack: BenchStack, supervisor: subprocess.Popen, log_path: Path) -> list[dict]:
    rows = [_row("supervisor", "amas.supervisor", psutil.Process(supervisor.pid))]
    for name, pid in programs(log_path.read_text()).items():
        for index, proc in enumerate(_tree(pid)):
            rows.append(_row(name, name if index == 0 else f"{name}/child-{index - 1}", proc))
    postmaster = int((stack.root / "pg" / "postmaster.pid").read_text().split()[0])
    for index, proc in enumerate(_tree(postmaster)):
        label = "postmaster" if index == 0 else " ".join(proc.cmdline())[:40] or "backend"
        rows.append(_row("postgres", label, proc))
    redis_pid = int((stack.root / "redis" / "redis.pid").read_text().strip())
    rows.append(_row("redis", "redis-server", psutil.Process(redis_pid)))
    return [r for r in rows if r is not None]


def heavy_steps() -> list[str]:
    """An ML (scikit-learn) and an analysis (numpy, matplotlib) task on a small table, created
    through the service the API calls."""
    import random

    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.tasks.services import task_create
    from apps.users.models import User

    rng = random.Random(7)
    rows = ["host,cpu,latency_ms,bytes_out"]
    rows += [
        f"h{i % 9},{rng.gauss(40, 5):.2f},{rng.gauss(120, 15):.1f},{rng.randint(900, 1100)}"
        for i in range(2000)
    ]
    data = ("\n".join(rows) + "\n").encode()
    user = User.objects.get(email="bench@example.org")
    ids = []
    for task_type, agent in (("anomaly_detection", "ml"), ("data_analysis", "analysis")):
        upload = SimpleUploadedFile("metrics.csv", data, content_type="text/csv")
        task = task_create(user=user, title=agent, task_type=task_type, agents=[agent], files=[upload])
        ids.append(str(task.pk))
    return ids


def run_once(root: Path, *, settle: float, warm: int, heavy: bool = False) -> list[dict]:
    stack = BenchStack()
    services = stack.start()
    supervisor, log_path, client = start_supervised(stack, services, root=root)
    try:
        ids = [client.post("/api/v1/tasks", json=BODY).json()["id"] for _ in range(warm)]
        wait_terminal(ids, timeout=300)
        for path in ("/", "/tasks/", "/api/v1/tasks"):
            client.get(path)
        time.sleep(settle)
        rows = measure(stack, supervisor, log_path)
        if heavy:
            show("Idle, before the heavy steps", rows)
            children = {r["pid"] for r in rows if r["process"].startswith("worker/")}
            wait_terminal(heavy_steps(), timeout=600)
            time.sleep(settle)
            after = measure(stack, supervisor, log_path)
            show("After an ML and an analysis step (pool children above the memory limit replaced)", after)
            new = [r["pid"] for r in after if r["process"].startswith("worker/") and r["pid"] not in children]
            print(f"worker pool children that are new since idle (replaced): {len(new)} {new}")
        return rows  # idle: what the baseline is compared with
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=90)
        stack.stop()


def totals(rows: list[dict]) -> dict[str, float]:
    amas_uss = sum(r["uss"] for r in rows if r["group"] != "postgres")
    postgres_pss = sum(r["pss"] for r in rows if r["group"] == "postgres")
    return {
        "unique": amas_uss + postgres_pss,
        "pss": sum(r["pss"] for r in rows),
        "rss": sum(r["rss"] for r in rows),
        "python": sum(r["pss"] for r in rows if r["group"] not in ("postgres", "redis")),
    }


def show(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n")
    print(f"{'group':<11} {'process':<42} {'pid':>7} {'RSS MiB':>8} {'USS MiB':>8} {'PSS MiB':>8}")
    for r in rows:
        print(
            f"{r['group']:<11} {r['process']:<42} {r['pid']:>7} {r['rss']:>8.1f} {r['uss']:>8.1f} {r['pss']:>8.1f}"
        )
    t = totals(rows)
    print(
        f"total: unique (USS + Postgres counted once) {t['unique']:.0f} MiB, PSS {t['pss']:.0f} MiB,"
        f" naive RSS {t['rss']:.0f} MiB; Python processes (PSS) {t['python']:.0f} MiB"
    )


def baseline(rev: str, settle: float, warm: int) -> list[dict]:
    tree = Path(tempfile.mkdtemp(prefix="amas-footprint-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True)
    out = tree.parent / "rows.json"
    try:
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--root",
                str(tree),
                "--json",
                str(out),
                "--settle",
                str(settle),
                "--warm",
                str(warm),
            ],
            check=True,
            env={**os.environ},
        )
        return json.loads(out.read_text())
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", help="a git revision to measure first, in the same run")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree whose Procfile and code run")
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument(
        "--heavy", action="store_true", help="then run an ML and an analysis step, measure again"
    )
    parser.add_argument("--json", type=Path, help="write the rows here instead of printing them")
    args = parser.parse_args()

    before = baseline(args.baseline, args.settle, args.warm) if args.baseline else None
    rows = run_once(args.root, settle=args.settle, warm=args.warm, heavy=args.heavy)
    if args.json:
        args.json.write_text(json.dumps(rows))
        return
    load = os.getloadavg()
    if before is not None:
        show(f"Before: {args.baseline}", before)
    show(f"Now: {args.root} (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})", rows)
    if before is not None:
        b, n = totals(before), totals(rows)
        print(
            f"\nunique {b['unique']:.0f} -> {n['unique']:.0f} MiB ({n['unique'] / b['unique']:.2f}x), "
            f"PSS {b['pss']:.0f} -> {n['pss']:.0f} MiB ({n['pss'] / b['pss']:.2f}x); aim: < 1024 MiB"
        )


if __name__ == "__main__":
    main()
