"""Dependency checks behind /health and /ready.

Each check returns (ok, detail); `readiness()` times them and reports each dependency with its
latency. Neo4j and S3 are checked only when configured.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 2), "detail": self.detail}


def check_postgres() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_redis() -> str:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.AMAS_READY_TIMEOUT,
        socket_timeout=settings.AMAS_READY_TIMEOUT,
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_broker() -> str:
    from amas.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=settings.AMAS_READY_TIMEOUT)
    return "ok"


def check_neo4j() -> str:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(
        settings.NEO4J_URL,
        auth=(settings.NEO4J_USER, settings.NEO4J_PASSWORD),
        connection_timeout=settings.AMAS_READY_TIMEOUT,
    ) as driver:
        driver.verify_connectivity()
    return "ok"


def check_s3() -> str:
    from django.core.files.storage import default_storage

    # default_storage is django-storages' S3Storage here (AWS_STORAGE_BUCKET_NAME is set).
    client = default_storage.connection.meta.client  # type: ignore[attr-defined]
    client.head_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)
    return "ok"


def configured_checks() -> dict[str, Callable[[], str]]:
    checks: dict[str, Callable[[], str]] = {
        "postgres": check_postgres,
        "redis": check_redis,
        "broker": check_broker,
    }
    if settings.NEO4J_URL:
        checks["neo4j"] = check_neo4j
    if settings.AWS_STORAGE_BUCKET_NAME:
        checks["s3"] = check_s3
    return checks


def run_check(name: str, check: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:  # any failure means "not ready"; the text says which
        detail = f"{type(exc).__name__}: {exc}"[:300]
        ok = False
    return CheckResult(name, ok, (time.perf_counter() - started) * 1000, detail)


def readiness() -> list[CheckResult]:
    """All checks at once, each given up after AMAS_READY_TIMEOUT: a stalled dependency makes
    /ready slow by one timeout, not by the sum of them."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Late

    from django.db import connections

    def run(name: str, check: Callable[[], str]) -> CheckResult:
        try:
            return run_check(name, check)
        finally:
            connections.close_all()  # this thread's own connection

    checks = configured_checks()
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="ready")
    futures = {name: pool.submit(run, name, check) for name, check in checks.items()}
    pool.shutdown(wait=False)  # a hung check must not hold the answer
    deadline = time.monotonic() + settings.AMAS_READY_TIMEOUT
    results = []
    for name, future in futures.items():
        try:
            results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except Late:
            results.append(CheckResult(name, False, settings.AMAS_READY_TIMEOUT * 1000, "no answer in time"))
    return results
