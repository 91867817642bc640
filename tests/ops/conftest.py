import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from apps.agents.registry import agent_registry
from apps.tasks.models import TERMINAL_STATUSES, Task
from tests.ops import agents

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.ops.agents import ALL
for agent in ALL:
    agent_registry.register(agent)
from amas.celery import app
app.worker_main(["worker", "-Q", %r, "-P", "threads", "-c", "2", "-l", %r, "--without-mingle",
                 "--without-gossip", "-n", %r])
"""


@pytest.fixture(autouse=True)
def ops_agents():
    with agent_registry.registered(*agents.ALL):
        yield


def database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:@/{s['NAME']}?host={s['HOST']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONPATH": str(ROOT),
        "AMAS_PROGRESS_MIN_INTERVAL": "0",
        "AMAS_STEP_POLL_SECONDS": "0.05",
        **extra,
    }


def start_worker(queues: str, name: str, *, capture: bool = False, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER % (queues, env.get("LOG_LEVEL", "WARNING"), f"{name}@%h")],
        cwd=ROOT,
        env=subprocess_env(**env),
        stderr=subprocess.PIPE if capture else None,
        text=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for_task(task_id, timeout: float = 60.0) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = Task.objects.get(pk=task_id)
        if task.status in TERMINAL_STATUSES:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task stayed {task.status}")
        time.sleep(0.1)


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
