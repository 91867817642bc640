"""Two daphne and two worker processes on the same Postgres and Redis (as behind a load
balancer): a task created through web 1 streams to a websocket on web 2, both workers take
work, and no step runs twice. Two worker processes with a queue each: a circuit breaker opened
by router calls in worker 1 is seen by worker 2, which then sends the vendor nothing."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from apps.providers import breaker
from apps.providers.models import Provider
from apps.tasks.models import Result, TaskStep
from apps.users.services import token_create
from tests.providers.fakes import FakeVendor
from tests.resilience.harness import ROOT, Submitter, database_url, running_stack
from tests.resilience.test_faults import (
    assert_no_event_lost,
    follow_in_background,
    submit_long,
    wait_all_terminal,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_webs_and_two_workers_share_the_work(tmp_path: Path, analyst):
    token = token_create(user=analyst, name="load", scopes=["tasks:read", "tasks:write"]).secret
    with running_stack(tmp_path, webs=2, workers=2) as stack:
        followed = submit_long(stack, token, seconds=2)  # through web 1 ...
        on_web_2 = follow_in_background(_Web2(stack), token, followed)  # ... watched on web 2
        with Submitter(stack.url(0), token, seconds=0.5, every=0.1) as submitter:
            time.sleep(6)
        accepted = [*submitter.accepted, followed]
        wait_all_terminal(accepted)
        assert_no_event_lost(on_web_2.result(timeout=60), followed)

        steps = TaskStep.objects.filter(task_id__in=accepted, is_aggregate=False)
        assert set(steps.values_list("status", flat=True)) == {"completed"}
        assert set(steps.values_list("attempt", flat=True)) == {1}  # each step claimed once
        assert Result.objects.filter(task_id__in=accepted).count() == steps.count()
        # Both worker processes ran steps (their log lines carry the program name).
        ran = Counter(re.findall(r" (worker1?) +\| .*tasks\.run_step\[.*\] succeeded", stack.log.read_text()))
        print(f"accepted={len(accepted)} steps per worker={dict(ran)} answers={dict(submitter.answers)}")
        assert ran["worker"] > 0 and ran["worker1"] > 0


class _Web2:
    """The stack as seen through its second web process."""

    def __init__(self, stack) -> None:
        self.stack = stack

    def url(self, web: int = 0) -> str:
        return self.stack.url(1)


# -------------------------------------------------------------- breaker shared between workers

BREAKER_FAILURES = 3
WORKER_ENV = {
    "DJANGO_SETTINGS_MODULE": "amas.settings.test",
    "AMAS_PROVIDER_BREAKER_FAILURES": str(BREAKER_FAILURES),
    "AMAS_PROVIDER_BREAKER_COOLDOWN": "600",  # stays open for the whole test: no half-open probe
    "AMAS_PROVIDER_CACHE_TTL": "0",  # every call is routed, none answered from the cache
    "AMAS_PROVIDER_CONFIG_TTL": "0",
    "PYTHONUNBUFFERED": "1",
}


@contextlib.contextmanager
def own_queue_workers(root: Path, names: list[str]) -> Iterator[None]:
    """One `celery -A amas worker` process per name (prefork, as the Procfile runs it), each
    consuming only the queue of its own name, on the test session's Postgres and Redis."""
    env = {**os.environ, **WORKER_ENV, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT)}
    procs = []
    try:
        for name in names:
            command = [sys.executable, "-m", "celery", "-A", "amas", "worker", "-l", "info", "-Q", name]
            command += ["-n", f"{name}@%h", "--concurrency", "1", "-I", "tests.resilience.breaker_probe"]
            command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
            log = (root / f"{name}.log").open("w")
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def ask_on(root: Path, queue: str) -> dict:
    """Run one router call in the worker that consumes `queue`; its report."""
    from amas.celery import app

    # Poll the stored result (a plain GET) rather than wait on the backend's pub/sub: a pub/sub
    # read that times out makes .get() raise long before its own timeout.
    sent = app.send_task("tests.resilience.ask_router", args=["flaky"], queue=queue)
    deadline = time.monotonic() + 120  # covers the worker's start-up on a loaded machine
    while not sent.ready() and time.monotonic() < deadline:
        time.sleep(0.2)
    if sent.successful():
        return sent.result
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(root.glob("*.log")))
    raise AssertionError(f"no answer from {queue} ({sent.state}: {sent.result!r}):\n{logs}")


def _provider(fake: FakeVendor, name: str, priority: int) -> Provider:
    return Provider.objects.create(
        name=name,
        kind=fake.style,
        base_url=fake.url,
        model=fake.models[0],
        api_key=fake.api_key,
        enabled=True,
        priority=priority,
        timeout=5,
        max_retries=0,
        allowed_classifications=["clear"],
        cost_per_1k_input=Decimal("0"),
        cost_per_1k_output=Decimal("0"),
    )


def test_a_breaker_opened_by_worker_1_is_seen_by_worker_2(tmp_path: Path):
    flaky, steady = FakeVendor(style="openai").start(), FakeVendor(style="anthropic").start()
    try:
        flaky.fail_always("500")
        Provider.objects.update(enabled=False, auto_enable=False)  # route only to the two fakes
        watched = _provider(flaky, "flaky", priority=10)
        _provider(steady, "steady", priority=20)
        breaker.reset(watched.id)

        with own_queue_workers(tmp_path, ["breaker-w1", "breaker-w2"]):
            # Worker 1: each call reaches the failing vendor (a real HTTP 500), falls back to the
            # steady one, and records the failure, until the circuit opens.
            first = [ask_on(tmp_path, "breaker-w1") for _ in range(BREAKER_FAILURES)]
            assert {r["worker"].split("@")[0] for r in first} == {"breaker-w1"}
            assert [r["attempts"][0]["provider"] for r in first] == ["flaky"] * BREAKER_FAILURES
            assert all(r["attempts"][0]["status"] != "skipped" for r in first)
            assert {r["provider"] for r in first} == {"steady"}
            assert [r["breaker"] for r in first] == ["closed"] * (BREAKER_FAILURES - 1) + ["open"]
            assert len(flaky.calls()) == BREAKER_FAILURES

            # Worker 2, another process that has not called the vendor yet, refuses the call
            # on the circuit worker 1 opened: the failing vendor gets no request.
            seen = ask_on(tmp_path, "breaker-w2")
            assert seen["worker"].split("@")[0] == "breaker-w2"
            assert seen["pid"] not in {r["pid"] for r in first}
            assert seen["attempts"][0] == {
                "provider": "flaky",
                "status": "skipped",
                "elapsed_ms": 0,
                "error": "circuit open",
            }
            assert seen["provider"] == "steady" and seen["breaker"] == "open"
            assert len(flaky.calls()) == BREAKER_FAILURES
            assert len(steady.calls("chat")) == BREAKER_FAILURES + 1
        print(f"worker 1 pids={sorted({r['pid'] for r in first})} worker 2 pid={seen['pid']}")
    finally:
        flaky.stop()
        steady.stop()
