"""Memory: RSS of every process of the supervised stack (the Procfile under amas.supervisor, as
`make run` runs it) at idle and after N small tasks; the baseline is each process's own idle RSS
in the same run, so the table shows growth.

    venv/bin/python bench/memory.py [--tasks 2000] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from _stack import ROOT, BenchStack
from pipeline import session_client, wait_terminal

from amas.stack import free_port

ENTRY_POINTS = "[amas.agents]\nbench_noop = bench.agents:NoopAgent\n"


def rss_kib(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):  # noqa: SIM115
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def group_rss(log: str) -> dict[str, int]:
    """Summed RSS (KiB) of each program's process group: daphne, worker (+ pool children), beat."""
    out = {}
    for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", log):
        listing = subprocess.run(["ps", "-o", "pid=", "-g", pid], capture_output=True, text=True).stdout
        pids = [int(p) for p in listing.split()] or [int(pid)]
        out[name] = sum(rss_kib(p) for p in pids)
        out[f"{name} (processes)"] = len(pids)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    stack = BenchStack()
    services = stack.start()
    plugin = stack.root / "plugins" / "amas_bench_agents-1.0.dist-info"
    plugin.mkdir(parents=True)
    (plugin / "METADATA").write_text("Metadata-Version: 2.1\nName: amas-bench-agents\nVersion: 1.0\n")
    (plugin / "entry_points.txt").write_text(ENTRY_POINTS)
    port = free_port()
    log_path = stack.root / "supervisor.log"
    env = {
        **os.environ,
        **services,
        "AMAS_PORT": str(port),
        "PYTHONPATH": f"{plugin.parent}{os.pathsep}{ROOT}",
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "amas.supervisor", str(ROOT / "Procfile")],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        client = session_client(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/ready").status_code == 200:
                    break
            except Exception:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-2000:])
            time.sleep(0.5)
        body = {"title": "noop", "task_type": "custom", "agents": ["bench_noop"]}
        # Warm-up: every code path loaded once, then let the processes settle.
        warm = [client.post("/api/v1/tasks", json=body).json()["id"] for _ in range(20)]
        wait_terminal(warm, timeout=120)
        time.sleep(5)
        idle = group_rss(log_path.read_text())

        def submit(_: int) -> str:
            response = client.post("/api/v1/tasks", json=body)
            response.raise_for_status()
            return response.json()["id"]

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            ids = list(pool.map(submit, range(args.tasks)))
        wait_terminal(ids, timeout=max(600, args.tasks))
        elapsed = time.monotonic() - started
        time.sleep(5)
        after = group_rss(log_path.read_text())
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=60)
        stack.stop()

    print(f"\nRSS per program (process group), idle vs after {args.tasks} no-op tasks ({elapsed:.0f} s)\n")
    print(f"{'program':<10} {'processes':>9} {'idle MiB':>9} {'after MiB':>10} {'growth':>8}")
    for name in ("web", "worker", "beat"):
        before, now = idle.get(name, 0), after.get(name, 0)
        growth = (now - before) / before * 100 if before else 0.0
        count = after.get(f"{name} (processes)", 0)
        print(f"{name:<10} {count:>9} {before / 1024:>9.1f} {now / 1024:>10.1f} {growth:>7.1f}%")


if __name__ == "__main__":
    main()
