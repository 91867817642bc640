"""API benchmark: `GET /api/v1/tasks/{id}` with an API token against a bare django-ninja
hello-world, both served by amas.web (daphne processes on one socket) in the same run.

    venv/bin/python bench/api.py [--seconds 8] [--connections 16] [--rounds 2] [--web-processes 1]

The load comes from keep-alive HTTP/1.1 connections driven by one asyncio loop in this process
(a few tens of microseconds of CPU a request, so the client costs both targets alike and little);
the machine's cores are shared by client, servers, Postgres and Redis, as they are in `make run`.
The rounds alternate baseline and AMAS so that a change in the machine's load hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from urllib.parse import urlsplit

from _stack import BenchStack, percentile


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    raise RuntimeError(f"response without a length: {headers}")


async def _client(url: str, headers: dict[str, str], stop_at: float, out: dict) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            status, _ = await _read_response(reader)
            if status != 200:
                out["errors"] += 1
                continue
            out["latencies"].append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()


def load(url: str, headers: dict[str, str], *, seconds: float, connections: int) -> dict[str, float]:
    async def run() -> dict:
        out: dict = {"latencies": [], "errors": 0}
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client(url, headers, stop_at, out) for _ in range(connections)))
        out["elapsed"] = time.perf_counter() - started
        return out

    out = asyncio.run(run())
    return {
        "rate": len(out["latencies"]) / out["elapsed"],
        "p50": percentile(out["latencies"], 50),
        "p99": percentile(out["latencies"], 99),
        "errors": out["errors"],
    }


def prepare() -> tuple[str, str]:
    """A member with a read token and one task of theirs: (task id, token secret)."""
    from apps.agents.registry import agent_registry
    from apps.tasks.services import task_create
    from apps.users.models import Role, User
    from apps.users.services import organization_get_or_create, token_create
    from bench.agents import NoopAgent

    if NoopAgent.type not in agent_registry:
        agent_registry.register(NoopAgent)
    org = organization_get_or_create(name="Bench")
    user = User.objects.create_user(
        "bench-api@example.org", "bench-password-123", organization=org, role=Role.ANALYST
    )
    task = task_create(user=user, title="bench", task_type="custom", agents=["bench_noop"])
    issued = token_create(user=user, name="bench", scopes=["tasks:read"])
    return str(task.id), issued.secret


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--web-processes", type=int, default=1)
    args = parser.parse_args()

    # One token asking as fast as it can: lift the per-token and per-user API limits.
    os.environ["AMAS_API_RATE_LIMIT"] = os.environ["AMAS_API_TOKEN_RATE_LIMIT"] = "100000000/m"
    stack = BenchStack()
    results: dict[str, list[dict[str, float]]] = {"hello": [], "amas": []}
    try:
        stack.start()
        task_id, secret = prepare()
        hello_base = stack.start_web(processes=args.web_processes, app="bench.hello_asgi:application")
        amas_base = stack.start_web(processes=args.web_processes)
        targets = {
            "hello": (f"{hello_base}/api/hello", {}),
            "amas": (f"{amas_base}/api/v1/tasks/{task_id}", {"Authorization": f"Bearer {secret}"}),
        }
        for name, (url, headers) in targets.items():  # warm up, and fail loudly if not 200
            warm = load(url, headers, seconds=1, connections=2)
            if warm["errors"] or not warm["rate"]:
                raise RuntimeError(f"{name}: {url} did not answer 200")
        for _ in range(args.rounds):
            for name, (url, headers) in targets.items():
                results[name].append(load(url, headers, seconds=args.seconds, connections=args.connections))
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.stop()

    def mean(name: str, key: str) -> float:
        return sum(r[key] for r in results[name]) / len(results[name])

    hello, amas = mean("hello", "rate"), mean("amas", "rate")
    print(
        f"\nAPI vs bare django-ninja ({args.web_processes} web process(es), {args.connections} "
        f"keep-alive connections, {args.rounds} x {args.seconds:.0f} s each, alternating)\n"
    )
    print("| measure | bare django-ninja hello-world | GET /api/v1/tasks/{id} (token) | ratio |")
    print("|---|---|---|---|")
    print(f"| requests/s | {hello:.0f} | {amas:.0f} | {amas / hello:.0%} |")
    print(
        f"| latency p50 / p99 | {mean('hello', 'p50'):.1f} / {mean('hello', 'p99'):.1f} ms | "
        f"{mean('amas', 'p50'):.1f} / {mean('amas', 'p99'):.1f} ms | |"
    )
    print(f"| non-200 answers | {mean('hello', 'errors'):.0f} | {mean('amas', 'errors'):.0f} | |")
    for name in ("hello", "amas"):
        print(f"rounds {name}: " + ", ".join(f"{r['rate']:.0f}" for r in results[name]) + " req/s")
    print(f"aim (>= 50% of the baseline): {'met' if amas / hello >= 0.5 else 'not met'}")


if __name__ == "__main__":
    main()
