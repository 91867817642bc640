"""AI provider router benchmark.

Starts a private embedded Postgres + Redis (bench/_stack.py), a fake OpenAI-compatible vendor with
a fixed delay in its own process, and measures, in this process:

1. added latency of `router.generate()` over a direct httpx call to the same fake (p50/p99), at
   100 and 500 requests/s (open loop: requests start on schedule whatever the previous ones do);
2. the round trips one routed call makes (Redis round trips counted at the client's socket
   writes, Postgres statements through Django's execute wrapper), against a vendor that answers
   at once, sequential;
3. what one process sustains: closed loop, N threads calling back to back for a few seconds,
   direct against routed, against the instant vendor;
4. the time to fail over when the first provider starts failing (500s, timeouts), and what the
   requests cost once its circuit breaker is open.

Run: `venv/bin/python bench/router.py` (about a minute). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stack import BenchStack, percentile  # noqa: E402

FAKE = """
import sys, time
from tests.providers.fakes import FakeVendor
fake = FakeVendor(style="openai", api_key="", delay=float(sys.argv[1])).start()
print(fake.url, flush=True)
while True:
    time.sleep(3600)
"""


def start_fake(stack: BenchStack, delay: float) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE, str(delay)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    stack.processes.append(proc)
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


_pool = ThreadPoolExecutor(max_workers=64)  # one pool: its threads keep their DB connections
errors: list[int] = []  # calls that raised (reported under the table)


def open_loop(fn, rate: float, seconds: float) -> list[float]:
    """Start `fn` `rate` times a second for `seconds`; return each call's duration in ms."""
    durations: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        started = time.perf_counter()
        try:
            fn(i)
        except Exception:  # counted, and the run goes on
            with lock:
                errors.append(i)
            return
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            durations.append(elapsed)

    total = int(rate * seconds)
    t0 = time.perf_counter()
    futures = []
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        futures.append(_pool.submit(one, i))
    for future in futures:
        future.result()
    return durations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.020, help="fake vendor delay (s)")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load step")
    parser.add_argument("--rounds", type=int, default=4, help="alternating direct/router rounds per step")
    parser.add_argument("--threads", default="1,4,16", help="closed-loop thread counts (sustained rate)")
    parser.add_argument("--rates", default="100,500", help="open-loop request rates")
    parser.add_argument(
        "--embed-only",
        action="store_true",
        help="only the built-in provider's embed calls (what an index drain makes): CPU per call",
    )
    parser.add_argument("--embed-calls", type=int, default=2000, help="embed calls per measurement")
    args = parser.parse_args()
    args.threads = [int(x) for x in args.threads.split(",")]
    args.rates = [int(x) for x in args.rates.split(",")]

    os.environ.setdefault("AMAS_PROVIDER_CACHE_TTL", "0")  # measure routing, not the cache
    # The router runs in Celery workers, which keep database connections (AMAS_WORKER_CONN_MAX_AGE);
    # with 0 the bookkeeping thread would reconnect after every idle moment.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    stack = BenchStack()
    stack.start()
    try:
        if not args.embed_only:
            run(stack, args)
        run_embed(args)
    finally:
        from django.db import connections

        _flush_bookkeeping()  # before the stack stops: rows written behind the last calls
        _pool.submit(connections.close_all)
        _pool.shutdown(wait=True)
        connections.close_all()
        stack.stop()


def run(stack: BenchStack, args: argparse.Namespace) -> None:
    import logging

    from django.conf import settings
    from django.db import connection

    from apps.providers import breaker, router
    from apps.providers.adapters.base import http_client
    from apps.providers.models import Provider

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("amas.providers").setLevel(logging.WARNING)

    primary_url = start_fake(stack, args.delay)
    secondary_url = start_fake(stack, args.delay)
    for preset in Provider.objects.filter(enabled=True):
        preset.enabled = False
        preset.save()
    primary = Provider.objects.create(
        name="bench-primary", kind="openai", base_url=primary_url, model="fake-model", enabled=True,
        priority=1, timeout=5, max_retries=0, allowed_classifications=["clear", "green", "amber", "red"],
    )  # fmt: skip
    Provider.objects.create(
        name="bench-secondary", kind="openai", base_url=secondary_url, model="fake-model", enabled=True,
        priority=2, timeout=5, max_retries=0, allowed_classifications=["clear", "green", "amber", "red"],
    )  # fmt: skip
    connection.close()

    messages = [{"role": "user", "content": "Summarise the incident at example.org in two sentences."}]
    body = {"model": "fake-model", "messages": messages, "max_tokens": 64, "temperature": 0.2}
    client = http_client()  # the router's own pooled client: same connection reuse for both

    def direct(i: int) -> None:
        response = client.post(f"{primary_url}/chat/completions", json=body, timeout=5)
        response.raise_for_status()
        response.json()

    def routed(i: int) -> None:
        router.generate(messages, purpose="bench", classification="clear", max_tokens=64)

    # Warm up connections, Lua scripts, the DB connection pool of the worker threads.
    open_loop(direct, 50, 1)
    open_loop(routed, 50, 1)

    # Direct and routed runs alternate in short rounds, so a change in machine load between them
    # (this box is shared) biases neither side.
    rows = []
    for rate in args.rates:
        baseline, measured = [], []
        for _ in range(args.rounds):
            baseline += open_loop(direct, rate, args.seconds / args.rounds)
            measured += open_loop(routed, rate, args.seconds / args.rounds)
        rows.append((rate, baseline, measured))

    # Sequential, interleaved, against a vendor that answers at once: the router's own cost.
    instant_url = start_fake(stack, 0.0)
    primary.base_url = instant_url
    primary.save()

    def direct_instant(i: int) -> None:
        client.post(f"{instant_url}/chat/completions", json=body, timeout=5).raise_for_status()

    idle_direct, idle_routed = [], []
    for _ in range(500):
        idle_direct.append(_timed(direct_instant))
        idle_routed.append(_timed(routed))
    trips = _round_trips(routed, 200)
    sustained = []
    for threads in args.threads:
        sustained.append(
            (threads, _closed_loop(direct_instant, threads, args.seconds / 2),
             _closed_loop(routed, threads, args.seconds / 2))
        )  # fmt: skip
    primary.base_url = primary_url
    primary.save()

    # Failover: the primary starts failing. Changes go through save() so that every process
    # (here: this one's provider cache) sees them at once, as an admin's change would be seen.
    normal = [_timed(routed) for _ in range(50)]
    settings.AMAS_PROVIDER_BREAKER_FAILURES = 5
    settings.AMAS_PROVIDER_BREAKER_COOLDOWN = 300
    failover = []
    primary.base_url = f"http://127.0.0.1:{_closed_port()}/v1"  # connection refused
    primary.save()
    failover.append(("connection refused, breaker closed (5 calls)", [_timed(routed) for _ in range(5)]))
    failover.append(("breaker open: primary skipped (50 calls)", [_timed(routed) for _ in range(50)]))
    breaker.reset(primary.pk)
    primary.base_url, primary.max_retries = primary_url, 0
    primary.save()
    _primary_fails_with_500s(primary_url)
    failover.append(("HTTP 500, no retry, breaker closed (5 calls)", [_timed(routed) for _ in range(5)]))
    breaker.reset(primary.pk)
    primary.max_retries = 2  # the default: two retries with jittered backoff before falling over
    primary.save()
    failover.append(
        ("HTTP 500, 2 retries (default), breaker closed (3 calls)", [_timed(routed) for _ in range(3)])
    )
    breaker.reset(primary.pk)
    primary.base_url, primary.timeout, primary.max_retries = _start_hanging_server(), 1.0, 0
    primary.save()
    failover.append(("primary hangs, 1 s timeout (3 calls)", [_timed(routed) for _ in range(3)]))

    print_table(args, rows, idle_direct, idle_routed, normal, failover)
    print(
        f"\nPer routed call (sequential, {trips['calls']} calls): the caller waits for "
        f"{trips['redis']:.2f} Redis round trips and {trips['sql']:.2f} SQL statements; written behind "
        f"it (batched): {trips['redis_behind']:.2f} Redis round trips, {trips['sql_behind']:.2f} SQL "
        "statements."
    )
    print("\n| one process, closed loop | direct calls/s | routed calls/s | routed p50 / p99 (ms) |")
    print("|---|---|---|---|")
    for threads, (d_rate, _), (r_rate, r_ms) in sustained:
        print(
            f"| {threads} threads, vendor answers at once | {d_rate:.0f} | {r_rate:.0f} | "
            f"{percentile(r_ms, 50):.2f} / {percentile(r_ms, 99):.2f} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}")


def run_embed(args: argparse.Namespace) -> None:
    """The built-in provider's embed call, sequential, in this process: CPU per call (this
    process, all threads: the caller and the bookkeeping thread writing its ledger row), and the
    round trips; alone, and inside a version_pinned() block as an index drain's batch makes them
    (a tree without it measures the same calls unpinned)."""
    import contextlib
    import logging

    from django.db import connection

    from apps.providers import config, router
    from apps.providers.models import Provider, ProviderKind

    logging.getLogger("amas.providers").setLevel(logging.WARNING)
    for row in Provider.objects.filter(enabled=True).exclude(kind=ProviderKind.BUILTIN):
        row.enabled = False
        row.save()
    builtin = Provider.objects.filter(kind=ProviderKind.BUILTIN).order_by("priority").first()
    assert builtin is not None, "no built-in provider row"
    builtin.enabled = True
    builtin.save()
    connection.close()
    texts = ["A phishing kit at example.org harvests bank credentials through a lookalike login page."]

    def one(i: int) -> None:
        router.embed(texts, classification="green", purpose="bench")

    pinned = getattr(config, "version_pinned", None)
    print(
        "\n| built-in embed, sequential, in-process | CPU ms per call (all threads) | calls/s | "
        "Redis waited / behind per call | SQL waited / behind per call |"
    )
    print("|---|---|---|---|---|")
    for label, block in (("each call alone", None), ("100 calls per version_pinned() block", pinned)):
        if label != "each call alone" and block is None:
            print(f"| {label} | (not in this tree) | | | |")
            continue
        for _ in range(200):  # warm up
            one(0)
        _flush_bookkeeping()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = 0
        while done < args.embed_calls:
            with block() if block is not None else contextlib.nullcontext():
                for _ in range(100):
                    one(done)
                    done += 1
        _flush_bookkeeping()
        cpu = (time.process_time() - cpu0) * 1000 / done
        rate = done / (time.perf_counter() - wall0)

        def hundred(i: int, block=block) -> None:
            with block() if block is not None else contextlib.nullcontext():
                for _ in range(100):
                    one(i)

        trips = _round_trips(hundred, 5)
        per = {k: v / 100 for k, v in trips.items() if k != "calls"}
        print(
            f"| {label} | {cpu:.3f} | {rate:.0f} | {per['redis']:.2f} / {per['redis_behind']:.2f} | "
            f"{per['sql']:.2f} / {per['sql_behind']:.2f} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}")


def _round_trips(fn, calls: int) -> dict[str, float]:
    """Redis round trips (socket writes of packed commands: a pipeline or a script is one) and SQL
    statements per call of `fn`: those the calling thread waits for, and those written behind
    the call by the provider bookkeeping thread (flushed and counted after the calls)."""
    from django.db.backends.utils import CursorWrapper
    from redis.connection import AbstractConnection

    caller = threading.get_ident()
    counts = {"redis": 0, "sql": 0, "redis_behind": 0, "sql_behind": 0}
    original = AbstractConnection.send_packed_command
    original_sql = CursorWrapper._execute_with_wrappers  # every thread's statements pass here

    def counting(self, command, check_health=True):
        counts["redis" if threading.get_ident() == caller else "redis_behind"] += 1
        return original(self, command, check_health)

    def counting_sql(self, sql, params, many, executor):
        counts["sql" if threading.get_ident() == caller else "sql_behind"] += 1
        return original_sql(self, sql, params, many, executor)

    _flush_bookkeeping()
    AbstractConnection.send_packed_command = counting
    CursorWrapper._execute_with_wrappers = counting_sql
    try:
        for i in range(calls):
            fn(i)
        _flush_bookkeeping()
    finally:
        AbstractConnection.send_packed_command = original
        CursorWrapper._execute_with_wrappers = original_sql
    return {"calls": calls, **{k: v / calls for k, v in counts.items()}}


def _flush_bookkeeping() -> None:
    """Wait for what the router wrote behind its calls (a tree without apps.providers.bookkeeping,
    e.g. an older commit benchmarked for comparison, writes everything on the caller's path)."""
    try:
        from apps.providers import bookkeeping
    except ImportError:
        return
    bookkeeping.flush()


def _closed_loop(fn, threads: int, seconds: float) -> tuple[float, list[float]]:
    """`threads` threads call `fn` back to back for `seconds`: (calls per second, latencies ms)."""
    stop = time.perf_counter() + seconds
    lock = threading.Lock()
    durations: list[float] = []

    def worker() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                fn(0)
            except Exception:  # counted, and the run goes on
                with lock:
                    errors.append(-1)
                continue
            with lock:
                durations.append((time.perf_counter() - started) * 1000)

    t0 = time.perf_counter()
    futures = [_pool.submit(worker) for _ in range(threads)]
    for future in futures:
        future.result()
    return len(durations) / (time.perf_counter() - t0), durations


def _timed(fn) -> float:
    started = time.perf_counter()
    fn(0)
    return (time.perf_counter() - started) * 1000


def _primary_fails_with_500s(url: str) -> None:
    """Tell the fake vendor process to fail from now on (its control endpoint)."""
    import httpx

    httpx.post(url.removesuffix("/v1") + "/_control/fail_always", json={"mode": "500"}, timeout=5)


def _closed_port() -> int:
    from amas.stack import free_port

    return free_port()


def _start_hanging_server() -> str:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept_forever() -> None:
        while True:
            conn, _ = server.accept()
            accepted.append(conn)  # never answer

    threading.Thread(target=accept_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/v1"


def _fmt(values: list[float]) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 99)


def print_table(args, rows, idle_direct, idle_routed, normal, failover) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nFake vendor delay {args.delay * 1000:.0f} ms; {args.seconds:.0f} s per load step; "
        f"{os.cpu_count()} CPUs, load average {load}; response cache off.\n"
    )
    print("| load | direct httpx p50 / p99 (ms) | router p50 / p99 (ms) | added p50 / p99 (ms) | ratio p99 |")
    print("|---|---|---|---|---|")
    for rate, baseline, measured in rows:
        b50, b99 = _fmt(baseline)
        m50, m99 = _fmt(measured)
        print(
            f"| {rate} req/s ({len(measured)} calls) | {b50:.2f} / {b99:.2f} | {m50:.2f} / {m99:.2f} | "
            f"{m50 - b50:.2f} / {m99 - b99:.2f} | {m99 / b99:.2f} |"
        )
    b50, b99 = _fmt(idle_direct)
    m50, m99 = _fmt(idle_routed)
    print(
        f"| sequential, vendor answers at once ({len(idle_routed)} calls) | {b50:.2f} / {b99:.2f} | "
        f"{m50:.2f} / {m99:.2f} | {m50 - b50:.2f} / {m99 - b99:.2f} | {m99 / b99:.2f} |"
    )
    print(f"\nCalls that failed under load: {len(errors)}.\n")
    n50, n99 = _fmt(normal)
    print("| failover case | request latency p50 / max (ms) | vs. healthy p50 (ms) |")
    print("|---|---|---|")
    print(f"| healthy primary | {n50:.2f} / {max(normal):.2f} | - |")
    for label, values in failover:
        p50 = percentile(values, 50)
        print(f"| {label} | {p50:.2f} / {max(values):.2f} | {p50 - n50:+.2f} |")


if __name__ == "__main__":
    main()
