"""The real stack for fault injection: the Procfile's processes (daphne, Celery worker, beat) run
under amas.supervisor exactly as `make run` runs them, against the test session's Postgres and a
Redis of their own that persists (AOF), like make run's. The test agents reach those processes
through the `amas.agents` entry-point group, the same way a third-party agent would.

A submission loop posts tasks over HTTP while a fault is injected and records every answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.db import connection

from amas.stack import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[2]

ENTRY_POINTS = """[amas.agents]
test_slow = tests.tasks.agents:SlowAgent
test_echo = tests.tasks.agents:EchoAgent
"""

# Short lease and quick checks so faults heal within seconds; everything else as make run has it.
STACK_ENV = {
    "DJANGO_SETTINGS_MODULE": "amas.settings.test",
    "AMAS_WORKER_REAPER": "1",
    "AMAS_REAPER_INTERVAL_SECONDS": "1",
    "AMAS_STEP_LEASE_SECONDS": "4",
    "AMAS_STEP_HEARTBEAT_SECONDS": "1",
    "AMAS_STEP_LOST_AFTER_SECONDS": "3",
    "AMAS_WORKER_CONCURRENCY": "2",
    "AMAS_SHUTDOWN_GRACE_SECONDS": "15",
    "AMAS_API_RATE_LIMIT": "100000/m",
    "AMAS_API_TOKEN_RATE_LIMIT": "100000/m",
    "AMAS_RETRY_BACKOFF_BASE": "0.2",
    "PYTHONUNBUFFERED": "1",
}
LEASE_SECONDS = 4


def database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:@/{s['NAME']}?host={s['HOST']}"


def _plugin_dir(root: Path) -> Path:
    dist = root / "plugins" / "amas_resilience_agents-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: amas-resilience-agents\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    return dist.parent


def procfile(root: Path, *, webs: int, workers: int, ports: list[int]) -> Path:
    """The project's Procfile, with extra web/worker copies for scale-out (own port and name)."""
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = re.match(r"^(\w+):\s*(.+)$", line.strip())
        if match:
            lines[match.group(1)] = match.group(2)
    out = []
    for i in range(webs):
        out.append(f"web{i or ''}: " + lines["web"].replace("${AMAS_PORT:-8000}", str(ports[i])))
    for i in range(workers):
        out.append(f"worker{i or ''}: " + lines["worker"].replace("${AMAS_PORT:-8000}", f"{ports[0]}-{i}"))
    out.append("beat: " + lines["beat"])
    path = root / "Procfile"
    path.write_text("\n".join(out) + "\n")
    return path


@dataclass
class Stack:
    root: Path
    webs: int = 1
    workers: int = 1
    redis: EmbeddedRedis = field(init=False)
    ports: list[int] = field(default_factory=list)
    supervisor: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.redis = EmbeddedRedis(self.root / "redis", persistent=True)
        self.ports = [free_port() for _ in range(self.webs)]

    def url(self, web: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[web]}"

    @property
    def log(self) -> Path:
        return self.root / "supervisor.log"

    def start(self) -> None:
        redis_url = self.redis.start()
        env = {
            **os.environ,
            **STACK_ENV,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "AMAS_PORT": str(self.ports[0]),
            "AMAS_VAR_DIR": str(self.root / "var"),
            "MEDIA_ROOT": str(self.root / "var" / "media"),
            "AMAS_STAGING_DIR": str(self.root / "var" / "staging"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{_plugin_dir(self.root)}{os.pathsep}{ROOT}",
        }
        path = procfile(self.root, webs=self.webs, workers=self.workers, ports=self.ports)
        self.supervisor = subprocess.Popen(
            [sys.executable, "-m", "amas.supervisor", str(path)],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for web in range(self.webs):
            self.wait_ready(web)
        self.wait_workers_ready()

    def wait_workers_ready(self, timeout: float = 120) -> None:
        """Every worker has connected and logged "ready": a fault injected before that would only
        hit a worker still starting (it starts later than daphne: Celery, mingle, pool)."""
        deadline = time.monotonic() + timeout
        while len(re.findall(r"celery@\S+ ready\.", self.log.read_text())) < self.workers:
            assert time.monotonic() < deadline, f"workers never ready:\n{self.log.read_text()[-3000:]}"
            assert self.supervisor and self.supervisor.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.2)

    def wait_ready(self, web: int = 0, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url(web)}/ready", timeout=2).status_code == 200:
                    return
            assert self.supervisor and self.supervisor.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"web {web} never became ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Clean-up after the assertions: a second SIGTERM (a second Ctrl-C) skips the warm
        shutdown's grace period, so the programs are stopped at once, process groups and all.
        test_warm_shutdown.py sends its single SIGTERM itself and checks the warm path."""
        if self.supervisor and self.supervisor.poll() is None:
            self.supervisor.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            self.supervisor.send_signal(signal.SIGTERM)
            try:
                self.supervisor.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.supervisor.kill()
        self.redis.stop()

    # ------------------------------------------------------------------ processes

    def pids(self, name: str) -> list[int]:
        """pids of a program's process group (main process and its children), from the log."""
        started = re.findall(rf"started {name} \(pid (\d+)\)", self.log.read_text())
        assert started, f"{name} never started"
        main = int(started[-1])
        out = subprocess.run(["ps", "-o", "pid=", "-g", str(main)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()] or [main]

    def kill(self, name: str, *, with_children: bool = True) -> None:
        pids = self.pids(name)
        for pid in pids if with_children else pids[:1]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restarts(self, name: str) -> int:
        return len(re.findall(rf"started {name} \(pid", self.log.read_text())) - 1


@contextlib.contextmanager
def running_stack(root: Path, **kwargs: int) -> Iterator[Stack]:
    stack = Stack(root, **kwargs)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


class Submitter:
    """Posts small tasks in a loop and records each answer (status code, or the connection
    error's name when no process was listening)."""

    def __init__(self, url: str, token: str, *, seconds: float = 0.3, every: float = 0.25) -> None:
        self.url, self.token, self.seconds, self.every = url, token, seconds, every
        self.answers: Counter[str] = Counter()
        self.accepted: list[str] = []
        self.timeline: list[tuple[float, str]] = []  # (monotonic time, answer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        body = {"title": "load", "task_type": "custom", "agents": ["test_slow"]}
        body["parameters"] = {"test_slow": {"seconds": self.seconds}}
        # 30 s: a web process just restarted on a loaded box can take over 10 s to answer.
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/api/v1/tasks", json=body)
                    answer = str(response.status_code)
                    if response.status_code == 201:
                        self.accepted.append(response.json()["id"])
                except httpx.HTTPError as exc:
                    answer = type(exc).__name__
                self.answers[answer] += 1
                self.timeline.append((time.monotonic(), answer))
                self._stop.wait(self.every)

    def unavailable_seconds(self) -> float:
        """From the first answer that was not a 201 to the first 201 after the last such answer."""
        bad = [t for t, answer in self.timeline if answer != "201"]
        if not bad:
            return 0.0
        back = [t for t, answer in self.timeline if answer == "201" and t > bad[-1]]
        return (back[0] if back else bad[-1]) - bad[0]

    def __enter__(self) -> Submitter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def follow_task_events(url: str, token: str, task_id: str, *, timeout: float = 90) -> list[int]:
    """A websocket client that reconnects (with ?after=<last seq>) whenever its socket drops, until
    the task ends; returns every seq it received: snapshot's, then each event's."""
    import websockets

    terminal = {"task.completed", "task.failed", "task.cancelled", "task.timed_out"}

    async def follow() -> list[int]:
        seqs: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            query = f"?after={seqs[-1]}" if seqs else ""
            ws_url = url.replace("http://", "ws://") + f"/ws/tasks/{task_id}/{query}"
            try:
                async with websockets.connect(
                    ws_url,
                    additional_headers={"Authorization": f"Bearer {token}", "Origin": url},
                    open_timeout=5,
                ) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "snapshot":
                            if not seqs:
                                seqs.append(message["task"]["seq"])
                            if message["task"]["status"] in {"completed", "failed", "cancelled", "timed_out"}:
                                pass  # the replayed events still follow
                        elif message["type"] == "event":
                            seqs.append(message["event"]["seq"])
                            if message["event"]["type"] in terminal:
                                return seqs
            except (TimeoutError, OSError, websockets.WebSocketException):
                await asyncio.sleep(0.5)
        raise AssertionError(f"task {task_id} did not end within {timeout}s on the websocket: {seqs}")

    return asyncio.run(follow())
