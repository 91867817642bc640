"""Postgres cost per task: bench/pipeline.py's no-op tasks with pg_stat_statements loaded, and the
statements, tables, indexes and WAL of the throughput run divided by its tasks.

    venv/bin/python bench/pg_statements.py [--latency-n 20] [--throughput-n 300] [--top 25]
        [--set name=value ...] [--no-statements]

--set adds a server setting for the run (A/B of EmbeddedPostgres settings); --no-statements
leaves pg_stat_statements out (its own overhead is part of the CPU figures otherwise). Statements
run inside functions and triggers are listed too (track = all), marked "nested": their time is
also inside the top-level statement that fired them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from _stack import BenchStack
from pipeline import CLIENT, CpuMeter, pipeline, session_client

STATEMENT_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_planning": "on",
}

TABLES_SQL = """
SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, seq_scan, idx_scan,
       autovacuum_count, autoanalyze_count
FROM pg_stat_user_tables"""
INDEXES_SQL = """
SELECT s.relname, s.indexrelname, s.idx_scan, pg_relation_size(s.indexrelid)
FROM pg_stat_user_indexes s"""
WAL_SQL = """
SELECT wal_records, wal_fpi, wal_bytes,
       (SELECT sum(writes) FROM pg_stat_io WHERE object = 'wal'),
       (SELECT sum(fsyncs) FROM pg_stat_io WHERE object = 'wal')
FROM pg_stat_wal"""
DATABASE_SQL = """
SELECT xact_commit, xact_rollback, sessions, blks_hit, blks_read FROM pg_stat_database
WHERE datname = current_database()"""


def _query(sql: str, params: Any = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def postgres_ticks(postmaster: int) -> Counter[str]:
    """CPU ticks of the server's processes by kind: the background processes by their title, the
    client backends together (those that exited count in the postmaster's children times)."""
    ticks: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            ticks["postmaster"] += int(fields[11]) + int(fields[12])
            ticks["client backends"] += int(fields[13]) + int(fields[14])  # exited children
        elif ppid == postmaster:
            kind = title.removeprefix("postgres: ")
            if not any(kind.startswith(bg) for bg in BACKGROUND):
                kind = "client backends"
            ticks[kind.split(" ", 1)[0] if kind != "client backends" else kind] += sum(
                int(t) for t in fields[11:15]
            )
    return ticks


BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum",
    "logical",
    "io worker",
    "io ",
    "walsummarizer",
)


class StatementMeter(CpuMeter):
    """The pipeline's CPU meter, which also resets the statement statistics and notes the table,
    index and WAL counters when the throughput run starts."""

    statements = True

    def start(self) -> None:
        if self.statements:
            _query("SELECT pg_stat_statements_reset()")
        self.tables = {row[0]: row[1:] for row in _query(TABLES_SQL)}
        self.indexes = {(row[0], row[1]): row[2] for row in _query(INDEXES_SQL)}
        self.wal = _query(WAL_SQL)[0]
        self.database = _query(DATABASE_SQL)[0]
        self.pg_before = postgres_ticks(self.roots["postgres"])
        super().start()


def _per_task(value: float, tasks: int) -> str:
    return f"{value / tasks:.2f}"


def report(meter: StatementMeter, tasks: int, top: int) -> None:
    print(f"\nPer task ({tasks} tasks in the throughput run)\n")
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    after = postgres_ticks(meter.roots["postgres"])
    print("| Postgres process | CPU ms per task |\n|---|---|")
    for kind in sorted(after, key=lambda k: meter.pg_before[k] - after[k]):
        print(f"| {kind} | {(after[kind] - meter.pg_before[kind]) * tick_ms / tasks:.2f} |")
    print()
    if meter.statements:
        rows = _query(
            """
            SELECT toplevel, calls, total_exec_time, total_plan_time, plans, rows,
                   shared_blks_hit + shared_blks_read, shared_blks_dirtied, wal_bytes,
                   regexp_replace(query, '\\s+', ' ', 'g')
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY total_exec_time + total_plan_time DESC"""
        )
        top_exec = sum(r[2] for r in rows if r[0])
        top_plan = sum(r[3] for r in rows if r[0])
        top_calls = sum(r[1] for r in rows if r[0])
        print(
            f"top-level statements: {top_calls / tasks:.1f} calls, exec {top_exec / tasks:.3f} ms, "
            f"plan {top_plan / tasks:.3f} ms per task\n"
        )
        print("| level | calls | exec ms | plan ms (plans) | rows | blocks | dirtied | WAL B | statement |")
        print("|---|---|---|---|---|---|---|---|---|")
        for toplevel, calls, exec_ms, plan_ms, plans, nrows, blks, dirtied, wal, query in rows[:top]:
            print(
                f"| {'top' if toplevel else 'nested'} | {_per_task(calls, tasks)} | "
                f"{exec_ms / tasks:.3f} | {plan_ms / tasks:.3f} ({_per_task(plans, tasks)}) | "
                f"{_per_task(nrows, tasks)} | {_per_task(blks, tasks)} | {_per_task(dirtied, tasks)} | "
                f"{wal / tasks:.0f} | {query[:150]} |"
            )
    print(
        "\n| table | inserts | updates | HOT updates | deletes | seq scans | index scans | autovacuum/analyze |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, *after in sorted(_query(TABLES_SQL)):
        before = meter.tables.get(name, (0,) * 8)
        delta = [(a or 0) - (b or 0) for a, b in zip(after, before, strict=True)]
        if not any(delta):
            continue
        ins, upd, hot, dele, seq, idx, av, aa = delta
        print(
            f"| {name} | {_per_task(ins, tasks)} | {_per_task(upd, tasks)} | {_per_task(hot, tasks)} | "
            f"{_per_task(dele, tasks)} | {_per_task(seq, tasks)} | {_per_task(idx, tasks)} | {av}/{aa} |"
        )
    written = {name for name, *after in _query(TABLES_SQL) if after[0] != meter.tables.get(name, (0,))[0]}
    print("\nIndexes of tables written during the run that no query used during it (size now):\n")
    for table, index, scans, size in sorted(_query(INDEXES_SQL)):
        if table in written and scans - meter.indexes.get((table, index), 0) == 0:
            print(f"- {table}.{index} ({size // 1024} KiB)")
    wal = [a - b for a, b in zip(_query(WAL_SQL)[0], meter.wal, strict=True)]
    commits, rollbacks, sessions, hit, read = (
        a - b for a, b in zip(_query(DATABASE_SQL)[0], meter.database, strict=True)
    )
    print(
        f"\nper task: {commits / tasks:.2f} commits, {rollbacks / tasks:.2f} rollbacks, "
        f"{sessions / tasks:.3f} new sessions, {hit / tasks:.0f} blocks hit, {read / tasks:.1f} read"
    )
    print(
        f"WAL per task: {wal[0] / tasks:.1f} records, {wal[1] / tasks:.2f} full-page images, "
        f"{wal[2] / tasks:.0f} bytes, {wal[3] / tasks:.2f} writes, {wal[4] / tasks:.2f} fsyncs"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-n", type=int, default=20)
    parser.add_argument("--throughput-n", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--no-statements", action="store_true")
    args = parser.parse_args()

    stack = BenchStack()
    extra = dict(item.split("=", 1) for item in args.set)
    stack.postgres.settings = {**({} if args.no_statements else STATEMENT_SETTINGS), **extra}
    try:
        stack.start()
        if not args.no_statements:
            _query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        stack.start_worker()
        base_url = stack.start_web()
        worker, web = stack.processes[0].pid, stack.processes[1].pid
        meter = StatementMeter(stack, worker_pid=worker, web_pid=web)
        meter.statements = not args.no_statements
        with session_client(base_url) as client:
            result = pipeline(client, args.latency_n, args.throughput_n, args.clients, meter)
        report(meter, args.throughput_n, args.top)
    except Exception:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        stack.stop()
    cpu = {key.removeprefix("cpu:"): ms for key, ms in result.items() if key.startswith("cpu:")}
    print(f"\nsettings: {stack.postgres.settings}")
    print("\n| process | CPU ms per task |\n|---|---|")
    for role, ms in cpu.items():
        if role != CLIENT:
            print(f"| {role} | {ms:.2f} |")
    print(f"| total (the stack) | {sum(ms for role, ms in cpu.items() if role != CLIENT):.1f} |")
    print(f"\nthroughput {result['rate']:.0f} tasks/s, one at a time p50 {result['p50']:.1f} ms")


if __name__ == "__main__":
    main()
