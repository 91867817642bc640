"""Memory: RSS/USS/PSS of every process of the supervised stack (the Procfile under
amas.supervisor, as `make run` runs it) at idle and after N small tasks; the baseline is each
process's own idle figure in the same run, so the table shows growth.

    nice venv/bin/python bench/memory.py [--tasks 10000] [--submit services|api] [--batch 500]

Tasks are submitted in batches and each batch is waited for before the next, so the queue stays
short and the worker, not a backlog in Redis, is what is measured; after every batch the worker's
processes are sampled (the growth curve is printed, so a leak shows as a slope, not one number).

`--submit services` (default) creates the tasks with `apps.tasks.services.task_create` in this
process - the same service the API calls, so the same rows, events, audit entries and step messages
reach the same worker - because through HTTP one daphne process is the bottleneck (~2 tasks/s on
the shared 2-core box: 10,000 tasks would take ~80 minutes). `--submit api` posts through daphne
as before; then web's growth is measured under load too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
from _stack import ROOT, BenchStack
from pipeline import session_client, wait_terminal

from amas.stack import free_port

ENTRY_POINTS = "[amas.agents]\nbench_noop = bench.agents:NoopAgent\n"
BODY = {"title": "noop", "task_type": "custom", "agents": ["bench_noop"]}


def programs(log: str) -> dict[str, int]:
    """The latest pid the supervisor started for each program."""
    return {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", log)}


def sample(log: str) -> dict[str, dict[str, float]]:
    """MiB per process: `worker` is the main process, `worker/child-N` its pool children (by pid
    order, so the same child keeps its name while it lives)."""
    out: dict[str, dict[str, float]] = {}
    for name, pid in programs(log).items():
        try:
            main = psutil.Process(pid)
            children = sorted(main.children(recursive=True), key=lambda p: p.pid)
        except psutil.NoSuchProcess:
            continue
        for label, proc in [(name, main)] + [(f"{name}/child-{i}", c) for i, c in enumerate(children)]:
            try:
                info = proc.memory_full_info()
            except psutil.NoSuchProcess:
                continue
            out[label] = {
                "pid": proc.pid,
                "rss": info.rss / 2**20,
                "uss": info.uss / 2**20,
                "pss": info.pss / 2**20,
            }
    return out


def start_supervised(
    stack: BenchStack, services: dict[str, str], root=ROOT
) -> tuple[subprocess.Popen, str, object]:
    """The Procfile under amas.supervisor with the benchmark's no-op agent installed as a plugin
    (an entry point, the way a third-party agent is installed)."""
    plugin = stack.root / "plugins" / "amas_bench_agents-1.0.dist-info"
    plugin.mkdir(parents=True, exist_ok=True)
    (plugin / "METADATA").write_text("Metadata-Version: 2.1\nName: amas-bench-agents\nVersion: 1.0\n")
    (plugin / "entry_points.txt").write_text(ENTRY_POINTS)
    port = free_port()
    log_path = stack.root / f"supervisor-{port}.log"
    env = {
        **os.environ,
        **services,
        "AMAS_PORT": str(port),
        "PYTHONPATH": f"{plugin.parent}{os.pathsep}{root}",
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "amas.supervisor", str(root / "Procfile")],
        cwd=root,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    client = session_client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 180
    while True:
        try:
            if client.get("/ready").status_code == 200:
                break
        except Exception:  # not listening yet
            pass
        if time.monotonic() > deadline or supervisor.poll() is not None:
            raise RuntimeError(log_path.read_text()[-3000:])
        time.sleep(0.5)
    return supervisor, log_path, client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--submit", choices=("services", "api"), default="services")
    args = parser.parse_args()

    stack = BenchStack()
    services = stack.start()
    supervisor, log_path, client = start_supervised(stack, services)
    from apps.agents.registry import agent_registry
    from apps.tasks.services import task_create
    from apps.users.models import User
    from bench.agents import NoopAgent

    agent_registry.register(NoopAgent)  # this process validates the tasks it creates

    user = User.objects.get(email="bench@example.org")

    def submit(_: int) -> str:
        if args.submit == "services":
            return str(task_create(user=user, **BODY).pk)
        response = client.post("/api/v1/tasks", json=BODY)
        response.raise_for_status()
        return response.json()["id"]

    curve = []
    try:
        # Warm-up: every code path loaded once (through the API too), then let the processes settle.
        warm = [client.post("/api/v1/tasks", json=BODY).json()["id"] for _ in range(10)]
        warm += [submit(0) for _ in range(10)]
        wait_terminal(warm, timeout=300)
        time.sleep(5)
        idle = sample(log_path.read_text())
        # Printed as they are taken, so a run stopped early still leaves a complete record.
        print("idle", json.dumps({k: round(v["rss"], 1) for k, v in idle.items()}), flush=True)
        started = time.monotonic()
        done = 0
        with ThreadPoolExecutor(args.clients) as pool:
            while done < args.tasks:
                count = min(args.batch, args.tasks - done)
                ids = list(pool.map(submit, range(count)))
                wait_terminal(ids, timeout=max(600, count))
                done += count
                now = sample(log_path.read_text())
                worker = sum(v["rss"] for k, v in now.items() if k.startswith("worker"))
                elapsed = time.monotonic() - started
                curve.append((done, elapsed, worker))
                per_process = json.dumps({k: round(v["rss"], 1) for k, v in now.items()})
                print(f"{done:>6} tasks {elapsed:>6.0f} s  RSS MiB {per_process}", flush=True)
        elapsed = time.monotonic() - started
        time.sleep(5)
        after = sample(log_path.read_text())
        restarts = log_path.read_text().count("exited with code")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=90)
        stack.stop()

    print(
        f"\nPer process, idle vs after {args.tasks} no-op tasks submitted via {args.submit} "
        f"({elapsed:.0f} s, {args.tasks / elapsed:.1f} tasks/s; supervisor restarts: {restarts}; "
        f"load {os.getloadavg()[0]:.2f})\n"
    )
    print(
        f"{'process':<16} {'idle RSS':>9} {'after RSS':>10} {'growth':>7} {'idle USS':>9} {'after USS':>10} {'growth':>7}"
    )
    for label in sorted(set(idle) | set(after)):
        before, now = idle.get(label), after.get(label)
        if before is None or now is None or before["pid"] != now["pid"]:
            print(
                f"{label:<16} (replaced during the run: {before and before['pid']} -> {now and now['pid']})"
            )
            continue
        rss_growth = (now["rss"] - before["rss"]) / before["rss"] * 100
        uss_growth = (now["uss"] - before["uss"]) / before["uss"] * 100
        print(
            f"{label:<16} {before['rss']:>9.1f} {now['rss']:>10.1f} {rss_growth:>6.1f}% "
            f"{before['uss']:>9.1f} {now['uss']:>10.1f} {uss_growth:>6.1f}%"
        )
    if curve:
        first = curve[0][2]
        print(f"\nworker RSS after the first batch {first:.1f} MiB, after the last {curve[-1][2]:.1f} MiB")


if __name__ == "__main__":
    main()
