"""Index drain benchmark: what one `knowledge.index_pending` drain costs per source, in-process.

Starts a private embedded Postgres + Redis (bench/_stack.py), writes N no-op tasks with a completed
result each (what bench/pipeline.py's no-op agent leaves behind), pushes their "task:" and
"result:" sources onto the index queue and runs `index_queue.drain` in this process, as the worker
does. Reports, per source: SQL statements and Redis round trips (those the drain waits for, and
those the router's bookkeeping thread writes behind it), CPU (this process, all threads) and wall
time. Then the same sources again (a re-index: text unchanged, nothing to embed).

Run: `venv/bin/python bench/index_drain.py [--n 1 50 200] [--split]` (a few seconds). The drain sizes: 1
task is what one drain takes at low load; under sustained load a drain takes up to 100 sources.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stack import BenchStack  # noqa: E402


def _counting():
    """Patch the SQL and Redis send paths to count, per thread kind; returns (counts, undo)."""
    from django.db.backends.utils import CursorWrapper
    from redis.connection import AbstractConnection

    caller = threading.get_ident()
    counts = {"sql": 0, "redis": 0, "sql_behind": 0, "redis_behind": 0}
    original = AbstractConnection.send_packed_command
    original_sql = CursorWrapper._execute_with_wrappers

    def counting(self, command, check_health=True):
        counts["redis" if threading.get_ident() == caller else "redis_behind"] += 1
        return original(self, command, check_health)

    def counting_sql(self, sql, params, many, executor):
        counts["sql" if threading.get_ident() == caller else "sql_behind"] += 1
        return original_sql(self, sql, params, many, executor)

    AbstractConnection.send_packed_command = counting
    CursorWrapper._execute_with_wrappers = counting_sql

    def undo() -> None:
        AbstractConnection.send_packed_command = original
        CursorWrapper._execute_with_wrappers = original_sql

    return counts, undo


def _flush_bookkeeping() -> None:
    try:
        from apps.providers import bookkeeping
    except ImportError:
        return
    bookkeeping.flush()


def run(n: int, user, rounds: int, split: bool = False) -> list[dict[str, float]]:
    from apps.core.redis import redis_client
    from apps.knowledge import index_queue
    from apps.knowledge.models import ChunkEmbedding
    from apps.tasks.models import Result, StepStatus, Task, TaskStep

    rows = []
    tasks = [
        Task.objects.create(
            organization=user.organization, created_by=user, task_type="custom", title=f"noop {i}"
        )
        for i in range(n)
    ]
    sources: list[str] = []
    for task in tasks:
        step = TaskStep.objects.create(task=task, agent_type="bench_noop", status=StepStatus.COMPLETED)
        result = Result.objects.create(
            task=task, step=step, agent="bench_noop", status="completed", summary="nothing done"
        )
        sources += [f"task:{task.pk}", f"result:{result.pk}"]
    client = redis_client()
    # split: the tasks' sources in one drain, their results' in the next (under load a task's
    # result is pushed long after its description was drained).
    waves = [sources[0::2], sources[1::2]] if split else [sources]
    for label in ("new", "again")[:rounds]:
        _flush_bookkeeping()
        counts, undo = _counting()
        cpu, wall, done = time.process_time(), time.perf_counter(), 0
        try:
            for i, wave in enumerate(waves):
                client.rpush(index_queue.PENDING, *wave)
                done += index_queue.drain(f"bench-{n}-{label}-{i}", limit=len(wave))
            wall = time.perf_counter() - wall
            _flush_bookkeeping()
            cpu = time.process_time() - cpu
        finally:
            undo()
        assert done == len(sources), (done, len(sources))
        embedded = ChunkEmbedding.objects.filter(chunk__task__in=tasks).count()
        rows.append(
            {
                "n": n,
                "label": label,
                "sources": len(sources),
                "embedded": embedded,
                **{k: v / len(sources) for k, v in counts.items()},
                "cpu_ms": cpu * 1000 / len(sources),
                "wall_ms": wall * 1000 / len(sources),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[1, 50, 200], help="tasks per drain")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the best CPU is kept)")
    parser.add_argument(
        "--split", action="store_true", help="drain the tasks' sources first, their results' after"
    )
    args = parser.parse_args()
    stack = BenchStack()
    stack.start()
    try:
        from apps.users.models import Role, User
        from apps.users.services import organization_get_or_create

        org = organization_get_or_create(name="Bench")
        user = User.objects.create_user(
            "bench-index@example.org", "bench-password-123", organization=org, role=Role.ANALYST
        )
        run(5, user, 2)  # warm up: imports, the embedding space, provider rows
        print(
            "| tasks per drain | run | sources | SQL / source (+ behind) | Redis / source (+ behind) "
            "| CPU ms / source | wall ms / source | vectors stored |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for n in args.n:
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.repeat):
                for row in run(n, user, 2, args.split):
                    if row["label"] not in best or row["cpu_ms"] < best[row["label"]]["cpu_ms"]:
                        best[row["label"]] = row
            for row in best.values():
                print(
                    f"| {n} | {row['label']} | {row['sources']} | {row['sql']:.2f} (+{row['sql_behind']:.2f}) "
                    f"| {row['redis']:.2f} (+{row['redis_behind']:.2f}) | {row['cpu_ms']:.2f} "
                    f"| {row['wall_ms']:.2f} | {row['embedded']} |"
                )
        print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
