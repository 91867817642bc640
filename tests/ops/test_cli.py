"""The `amas` CLI against a live server: daphne and a Celery worker as subprocesses on the test
session's Postgres and Redis, the CLI as a subprocess too, exactly as a user runs it."""

import json
import os
import stat
import subprocess
import sys
import time

import httpx
import pytest

from amas.stack import free_port
from apps.users.services import token_create
from tests.ops.conftest import ROOT, stop, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = """
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.ops.agents import ALL as OPS
from tests.tasks.agents import ALL as PIPELINE
for agent in (*OPS, *PIPELINE):
    agent_registry.register(agent)
"""
WEB = (
    BOOT
    + """
from daphne.cli import CommandLineInterface
CommandLineInterface().run(["-b", "127.0.0.1", "-p", "%d", "amas.asgi:application"])
"""
)
WORKER = (
    BOOT
    + """
from amas.celery import app
app.worker_main(["worker", "-Q", "default,agents,ops-a,ops-b", "-P", "threads", "-c", "4", "-l", "WARNING",
                 "--without-mingle", "--without-gossip", "-n", "cli@%h"])
"""
)


@pytest.fixture(scope="module")
def live_server_url(django_db_blocker):
    with django_db_blocker.unblock():
        env = subprocess_env(AMAS_RETRY_BACKOFF_BASE="0.2")
    port = free_port()
    processes = [
        subprocess.Popen([sys.executable, "-c", WEB % port], cwd=ROOT, env=env),
        subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env),
    ]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "daphne did not start"
        time.sleep(0.2)
    yield url
    for process in processes:
        stop(process)


@pytest.fixture
def token(analyst):
    return token_create(user=analyst, name="cli", scopes=["tasks:read", "tasks:write", "agents:read"]).secret


@pytest.fixture
def amas(tmp_path, live_server_url, token):
    """Run the CLI; logged in (AMAS_CONFIG in tmp_path) unless login=False."""
    config = tmp_path / "amas" / "config.json"

    def run(*args: str, login: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "AMAS_CONFIG": str(config), "PYTHONPATH": str(ROOT), "COLUMNS": "160"}
        env.pop("AMAS_TOKEN", None)
        env.pop("AMAS_URL", None)
        if login and not config.exists():
            done = subprocess.run(
                [sys.executable, "-m", "amas.cli", "login", "--url", live_server_url, "--token", token],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        return subprocess.run(
            [sys.executable, "-m", "amas.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(*args: str) -> subprocess.Popen:
        run("--help")  # logs in first
        env = {**os.environ, "AMAS_CONFIG": str(config), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "amas.cli", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    run.config = config
    run.popen = popen
    return run


def test_login_stores_url_and_token_privately(amas, live_server_url, token, analyst):
    done = amas("login", "--url", live_server_url, "--token", token, "--json", login=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["user"]["email"] == analyst.email
    assert stat.S_IMODE(amas.config.stat().st_mode) == 0o600
    assert json.loads(amas.config.read_text()) == {"url": live_server_url, "token": token}


def test_login_with_a_wrong_token_exits_3(amas, live_server_url):
    done = amas("login", "--url", live_server_url, "--token", "amas_deadbeef_nope", login=False)
    assert done.returncode == 3
    assert not amas.config.exists()


def test_unreachable_server_exits_5(amas):
    done = amas("login", "--url", f"http://127.0.0.1:{free_port()}", "--token", "x", login=False)
    assert done.returncode == 5
    assert "Cannot reach" in done.stderr


def test_submit_wait_returns_the_result(amas):
    done = amas(
        "submit", "custom", "example.org hello world", "--agent", "test_echo", "--agent", "test_ops_a",
        "--param", "test_echo.words=2", "--priority", "8", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["task"]["status"] == "completed"
    assert body["task"]["priority"] == 8
    by_agent = {r["agent"]: r for r in body["results"]}
    assert by_agent["test_echo"]["data"]["words"] == ["example.org", "hello"]
    assert by_agent["test_ops_a"]["status"] == "completed"
    assert "aggregator" in by_agent


def test_failed_task_exits_1(amas):
    done = amas("submit", "custom", "x", "--agent", "test_broken", "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed" in done.stdout


def test_watch_prints_progress(amas, client, analyst):
    submitted = amas(
        "submit", "custom", "slow", "--agent", "test_slow", "--param", "test_slow.seconds=60", "--json"
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    task_id = json.loads(submitted.stdout)["id"]

    watcher = amas.popen("watch", task_id)
    seen = []
    try:
        for line in watcher.stdout:  # live: progress lines arrive while the agent works
            seen.append(line)
            if line.startswith("test_slow") and " progress " in line:
                break
        client.force_login(analyst)
        assert client.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 200
        rest, errors = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    output = "".join(seen) + rest
    assert "websocket unavailable" not in errors, "followed over the websocket, not by polling"
    progress = [line for line in output.splitlines() if line.startswith("test_slow") and " progress " in line]
    assert progress and "%" in progress[0], output
    assert "task cancelled" in output
    assert watcher.returncode == 1, "a task that did not complete exits 1"

    replay = amas("watch", task_id, "--json")  # an ended task: the snapshot says it all
    assert replay.returncode == 1
    first = json.loads(replay.stdout.splitlines()[0])
    assert first["type"] == "snapshot" and first["task"]["status"] == "cancelled"


def test_tables_and_json_for_scripts(amas):
    assert amas("submit", "custom", "x", "--agent", "test_echo", "--wait").returncode == 0
    listed = amas("tasks", "--json")
    assert listed.returncode == 0
    tasks = json.loads(listed.stdout)
    assert tasks[0]["status"] == "completed"
    table = amas("tasks")
    assert tasks[0]["id"][:8] in table.stdout

    result = amas("result", tasks[0]["id"])
    assert result.returncode == 0 and "test_echo" in result.stdout
    assert amas("result", "00000000-0000-0000-0000-000000000000").returncode == 4

    agents = amas("agents", "--json")
    assert agents.returncode == 0 and isinstance(json.loads(agents.stdout), list)
    providers = amas("providers", "--json")
    assert providers.returncode == 0 and isinstance(json.loads(providers.stdout), list)

    health = amas("health", "--json")
    report = json.loads(health.stdout)
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["postgres"]["state"] == "up" and nodes["workers"]["state"] in ("up", "degraded")
    assert health.returncode == (0 if report["ready"] else 1)
    assert "postgres" in amas("health").stdout
