"""Metrics overhead: REST API requests with the Redis-aggregated metrics middleware against the
same requests without it (baseline), in-process through Django's test client on a private
embedded Postgres + Redis; plus the cost of one /metrics scrape as the number of series grows.

    venv/bin/python bench/ops_metrics.py [--n 400]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from _stack import BenchStack, percentile


def timed(client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    args = parser.parse_args()
    stack = BenchStack()
    try:
        stack.start()
        from django.conf import settings
        from django.test import Client, override_settings

        from apps.core import metrics
        from apps.users.models import Role, User
        from apps.users.services import organization_get_or_create

        org = organization_get_or_create(name="Bench")
        user = User.objects.create_user(
            "bench@example.org", "bench-password-123", organization=org, role=Role.ANALYST
        )
        without = [m for m in settings.MIDDLEWARE if not m.endswith("ApiMetricsMiddleware")]
        common = {"AMAS_API_RATE_LIMIT": "1000000/m", "ALLOWED_HOSTS": ["testserver"]}
        rows = []
        plain, measured = [], []
        for _ in range(4):  # alternate short rounds so drift hits both sides alike
            with override_settings(MIDDLEWARE=without, **common):
                client = Client()
                client.force_login(user)
                plain += timed(client, "/api/v1/tasks", args.n // 4)
            with override_settings(**common):
                client = Client()
                client.force_login(user)
                measured += timed(client, "/api/v1/tasks", args.n // 4)
        for label, values in (("without metrics middleware", plain), ("with metrics middleware", measured)):
            rows.append((label, statistics.median(values), percentile(values, 99)))

        scrape = []
        scraper = Client()
        for series in (10, 1000):
            for i in range(series):
                metrics.API_REQUESTS.inc(method="GET", route=f"/bench/{i}", status="200")
            with override_settings(**common):
                values = timed(scraper, "/metrics", 20)
            scrape.append((series, statistics.median(values), percentile(values, 99)))
            metrics.reset()

        # The write itself: one request's batch (3 counters/histogram fields + 3 bucket fields)
        # against a bare Redis PING on the same connection pool.
        client = metrics.redis_client()
        ping, write = [], []
        for _ in range(2000):
            started = time.perf_counter()
            client.ping()
            ping.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            metrics.record(
                metrics.API_REQUESTS.increments(method="GET", route="/bench", status="200"),
                metrics.API_LATENCY.observations(0.01, method="GET", route="/bench"),
            )
            write.append((time.perf_counter() - started) * 1000)
        metrics.reset()

        base = rows[0][1]
        print(f"\nAPI request latency, {args.n} requests each ({datetime.now(UTC):%Y-%m-%d})")
        print("| variant | p50 (ms) | p99 (ms) | ratio p50 |")
        print("|---|---|---|---|")
        for label, p50, p99 in rows:
            print(f"| {label} | {p50:.2f} | {p99:.2f} | {p50 / base:.2f} |")
        print("\nOne request's metrics write, 2000 each")
        print("| operation | p50 (ms) | p99 (ms) | ratio p50 |")
        print("|---|---|---|---|")
        for label, values in (("Redis PING (baseline)", ping), ("metrics.record (one pipeline)", write)):
            print(
                f"| {label} | {statistics.median(values):.3f} | {percentile(values, 99):.3f} | "
                f"{statistics.median(values) / statistics.median(ping):.2f} |"
            )
        print("\n/metrics scrape (20 scrapes each)")
        print("| extra api series | p50 (ms) | p99 (ms) | ratio p50 |")
        print("|---|---|---|---|")
        for series, p50, p99 in scrape:
            print(f"| {series} | {p50:.2f} | {p99:.2f} | {p50 / scrape[0][1]:.2f} |")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
