"""Footprint: memory of the whole embedded stack at idle, the way `make run` runs it - embedded
PostgreSQL and Redis, then the Procfile (daphne, a Celery worker with its pool children, beat)
under amas.supervisor - per process and in total.

    venv/bin/python bench/footprint.py [--baseline REV] [--settle 20] [--warm 5]

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


def run_once(root: Path, *, settle: float, warm: int) -> list[dict]:
    stack = BenchStack()
    services = stack.start()
    supervisor, log_path, client = start_supervised(stack, services, root=root)
    try:
        ids = [client.post("/api/v1/tasks", json=BODY).json()["id"] for _ in range(warm)]
        wait_terminal(ids, timeout=300)
        for path in ("/", "/tasks/", "/api/v1/tasks"):
            client.get(path)
        time.sleep(settle)
        return measure(stack, supervisor, log_path)
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
    print(f"{'group':<11} {'process':<42} {'RSS MiB':>8} {'USS MiB':>8} {'PSS MiB':>8}")
    for r in rows:
        print(f"{r['group']:<11} {r['process']:<42} {r['rss']:>8.1f} {r['uss']:>8.1f} {r['pss']:>8.1f}")
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
    parser.add_argument("--json", type=Path, help="write the rows here instead of printing them")
    args = parser.parse_args()

    before = baseline(args.baseline, args.settle, args.warm) if args.baseline else None
    rows = run_once(args.root, settle=args.settle, warm=args.warm)
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
