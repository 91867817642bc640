"""Shared by benchmarks: a private embedded Postgres + Redis, migrated, and helpers to start AMAS
processes (daphne, Celery workers) with benchmark agents registered."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amas.stack import EmbeddedPostgres, EmbeddedRedis, free_port  # noqa: E402

BOOT = """
import django
django.setup()
from apps.agents.registry import agent_registry
from bench.agents import NoopAgent
agent_registry.register(NoopAgent)
import bench.skeleton  # its Celery task (bench/pipeline.py's skeleton reference)
"""


class BenchStack:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="amas-bench-"))
        os.chmod(self.root, 0o755)  # the embedded server runs as its own user
        self.postgres = EmbeddedPostgres(self.root / "pg")
        self.redis = EmbeddedRedis(self.root / "redis")
        self.processes: list[subprocess.Popen] = []

    def start(self) -> dict[str, str]:
        database_url = self.postgres.start(database="amas")
        redis_url = self.redis.start()
        os.environ.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            AMAS_VAR_DIR=str(self.root / "var"),
            DJANGO_SETTINGS_MODULE="amas.settings.local",
            DEBUG="false",
            LOG_LEVEL="WARNING",
            # The benchmark is one user submitting as fast as it can: lift the per-user API limit.
            AMAS_API_RATE_LIMIT="1000000/m",
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return {"DATABASE_URL": database_url, "REDIS_URL": redis_url}

    def spawn(self, code: str, *args: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = (self.root / f"process-{len(self.processes)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-c", BOOT + code, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        self.processes.append(proc)
        return proc

    def start_worker(self, concurrency: int = 2, queues: str = "default,agents,maintenance") -> None:
        self.spawn(
            "from amas.celery import app\n"
            f"app.worker_main(['worker', '-Q', '{queues}', '-c', '{concurrency}', '-l', 'WARNING',"
            " '--without-mingle', '--without-gossip'])"
        )

    def start_web(self, processes: int = 1, app: str = "bench.asgi:application") -> str:
        """The API served as in production (amas.web: daphne processes on one socket)."""
        port = free_port()
        self.spawn(
            "from amas.web import main\n"
            f"main(['--host', '127.0.0.1', '--port', '{port}', '--processes', '{processes}', '--app', '{app}'])"
        )
        import httpx

        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # a loaded machine takes a while to import Django
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server ({app}) did not start")
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.root.glob("process-*.log"))
        )

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.redis.stop()
        self.postgres.stop()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
