"""What the decision engine's agent history costs a task submission, with Results being written.

A private embedded Postgres + Redis (bench/_stack.py), N results of one task type (1,000 and 20,000
by default), then for each size:
- the full history read (`agent_history._read`): wall and CPU per read;
- decisions paced at RATE per second for SECONDS, with a step's Result committed before every
  decision (what a loaded pipeline does: the worker bumps the history version after each commit),
  measuring `TaskAgentHistory.outcomes` per decision, for:
    no-bump      nothing invalidates the entry (main before 13c0a72: the worker's upsert sent no
                 post_save; cheap, but decisions were up to AMAS_DECISION_HISTORY_CACHE_SECONDS stale)
    refresh=0    every bump re-reads (the unbounded fix)
    refresh=R    an outdated entry is reused while its read began < R s ago (the shipped bound)
    ... pinned   the same inside `config_version_pinned()`, as a task submission reads it: the
                 history version came with the configuration version (not timed here), and the
                 process's own copy serves an unchanged or fresh-enough version

Usage: venv/bin/python bench/decision_history.py [--sizes 1000,20000] [--rate 60] [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

from _stack import BenchStack


def fill(task_type: str, target: int, org) -> None:
    from decimal import Decimal

    from apps.tasks.models import Result, StepStatus, Task, TaskStep

    have = Result.objects.filter(task__task_type=task_type).count()
    per_task = 100
    while have < target:
        n = min(per_task, target - have)
        task = Task.objects.create(organization=org, task_type=task_type, title="history", target="x")
        steps = TaskStep.objects.bulk_create(
            TaskStep(task=task, agent_type="bench_noop", status=StepStatus.COMPLETED, position=i)
            for i in range(n)
        )
        Result.objects.bulk_create(
            Result(
                task=task,
                step=step,
                agent="bench_noop",
                status="completed" if i % 7 else "failed",
                processing_time_ms=10 + i % 50,
                cost=Decimal("0.001"),
            )
            for i, step in enumerate(steps)
        )
        have += n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--rate", type=float, default=60.0, help="decisions per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--refresh", type=float, default=1.0)
    args = parser.parse_args()

    stack = BenchStack()
    stack.start()
    try:
        from django.conf import settings

        from apps.core.config_cache import config_version_pinned
        from apps.tasks import agent_history
        from apps.users.services import organization_get_or_create

        org = organization_get_or_create(name="Bench")
        task_type, window = "custom", settings.AMAS_DECISION_WINDOW
        keys = [("bench_noop", None)]
        reads = {"n": 0}
        real_read = agent_history._read

        def counted(*a, **kw):  # type: ignore[no-untyped-def]
            reads["n"] += 1
            return real_read(*a, **kw)

        agent_history._read = counted  # the bench counts re-reads; nothing else changes
        reader = agent_history.TaskAgentHistory()
        settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30
        for size in [int(s) for s in args.sizes.split(",")]:
            fill(task_type, size, org)
            for _ in range(2):
                real_read(task_type, window)
            walls, cpus = [], []
            for _ in range(10):
                w, c = time.perf_counter(), time.process_time()
                real_read(task_type, window)
                walls.append((time.perf_counter() - w) * 1000)
                cpus.append((time.process_time() - c) * 1000)
            print(
                f"{size} results: full read wall {statistics.median(walls):.1f} ms, "
                f"CPU {statistics.median(cpus):.1f} ms (median of 10)"
            )
            for mode, refresh, bump, pinned in (
                ("no-bump", 0.0, False, False),
                ("refresh=0", 0.0, True, False),
                (f"refresh={args.refresh:g}", args.refresh, True, False),
                (f"refresh={args.refresh:g} pinned", args.refresh, True, True),
            ):
                settings.AMAS_DECISION_HISTORY_REFRESH_SECONDS = refresh
                reader.outcomes(task_type=task_type, keys=keys, window=window)  # warm entry
                reads["n"] = 0
                walls, cpus = [], []
                period = 1.0 / args.rate
                end = time.monotonic() + args.seconds
                while time.monotonic() < end:
                    tick = time.monotonic()
                    if bump:
                        agent_history._bump()  # a step's Result committed (the hook's on_commit)
                    with config_version_pinned() if pinned else nullcontext():
                        w, c = time.perf_counter(), time.process_time()
                        reader.outcomes(task_type=task_type, keys=keys, window=window)
                    walls.append((time.perf_counter() - w) * 1000)
                    cpus.append((time.process_time() - c) * 1000)
                    time.sleep(max(0.0, period - (time.monotonic() - tick)))
                print(
                    f"  {mode:19} {len(walls)} decisions at {args.rate:g}/s: history per decision "
                    f"wall mean {statistics.fmean(walls):.2f} ms (p50 {statistics.median(walls):.2f}), "
                    f"CPU mean {statistics.fmean(cpus):.2f} ms; full re-reads {reads['n']}"
                )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
