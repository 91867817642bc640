"""The supervisor behind `make run`: a process that dies is started again (with back-off), the
others keep running, and a stop is warm and ordered (the worker may finish its work)."""

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

from amas.supervisor import Program, Supervisor, read_procfile

PY = sys.executable

# A stand-in for the Celery worker: on SIGTERM it "finishes the running step" (sleeps a little),
# writes that it did, and exits 0, as Celery's warm shutdown does.
WARM_WORKER = (
    "import signal, sys, time\n"
    "def stop(*_):\n"
    "    time.sleep(0.5)\n"
    "    open(sys.argv[1], 'a').write('finished\\n')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "open(sys.argv[1], 'a').write('started\\n')\n"
    "while True: time.sleep(0.1)\n"
)


def sleeper() -> str:
    return f"{PY} -c 'import time; time.sleep(600)'"


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def running(supervisor: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=supervisor.run, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    wait_until(lambda: all(p.process is not None for p in supervisor.programs))
    return thread


def test_procfile_is_read(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: daphne x\n# a comment\nworker: celery -A amas worker\n")
    assert [(p.name, p.command) for p in read_procfile(procfile)] == [
        ("web", "daphne x"),
        ("worker", "celery -A amas worker"),
    ]


def test_a_killed_process_is_restarted_and_the_others_keep_running():
    out = io.StringIO()
    web, beat = Program("web", sleeper()), Program("beat", sleeper())
    supervisor = Supervisor([web, beat], backoff_initial=0.1, output=out)
    thread = running(supervisor)
    try:
        first_web, first_beat = web.process.pid, beat.process.pid
        os.kill(first_web, signal.SIGKILL)
        wait_until(lambda: web.restarts == 1 and web.process.pid != first_web)
        assert web.process.poll() is None
        assert beat.process.pid == first_beat and beat.process.poll() is None
        assert web.exits == [-signal.SIGKILL]
        assert "web exited with code -9" in out.getvalue()
    finally:
        supervisor.request_stop(force=True)
        thread.join(timeout=30)
    assert web.process.poll() is not None and beat.process.poll() is not None


def test_a_crash_loop_backs_off():
    crasher = Program("worker", f"{PY} -c 'import sys; sys.exit(3)'")
    supervisor = Supervisor([crasher], backoff_initial=0.1, backoff_max=0.4, output=io.StringIO())
    thread = running(supervisor)
    try:
        wait_until(lambda: len(crasher.exits) >= 4)
    finally:
        supervisor.request_stop(force=True)
        thread.join(timeout=30)
    assert set(crasher.exits) == {3}
    assert crasher.backoff == 0.4  # 0.1, 0.2, 0.4, then capped


def test_killing_the_worker_main_process_kills_its_children(tmp_path: Path):
    child_pid = tmp_path / "child.pid"
    # A main process with a child in its process group, like a prefork worker and its pool.
    command = (
        f'{PY} -c "import subprocess, sys, time; '
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open('{child_pid}', 'w').write(str(c.pid)); time.sleep(600)\""
    )
    worker = Program("worker", command)
    supervisor = Supervisor([worker], backoff_initial=5, output=io.StringIO())
    thread = running(supervisor)
    try:
        wait_until(child_pid.exists)
        wait_until(lambda: child_pid.read_text().strip() != "")
        orphan = int(child_pid.read_text())
        os.kill(worker.process.pid, signal.SIGKILL)
        wait_until(lambda: worker.exits != [])

        def gone() -> bool:
            try:
                os.kill(orphan, 0)
            except ProcessLookupError:
                return True
            # a zombie until someone reaps it: that is dead too
            return Path(f"/proc/{orphan}/stat").read_text().split()[2] == "Z"

        wait_until(gone)
    finally:
        supervisor.request_stop(force=True)
        thread.join(timeout=30)


def test_stop_is_warm_and_in_order(tmp_path: Path):
    log = tmp_path / "worker.log"
    script = tmp_path / "worker.py"
    script.write_text(WARM_WORKER)
    out = io.StringIO()
    worker = Program("worker", f"{PY} {script} {log}")
    web = Program("web", sleeper())
    supervisor = Supervisor([worker, web], grace=20, output=out)
    thread = running(supervisor)
    wait_until(lambda: log.exists() and "started" in log.read_text())
    supervisor.request_stop()
    thread.join(timeout=40)
    assert not thread.is_alive()
    assert log.read_text().split() == ["started", "finished"]
    assert worker.process.returncode == 0  # it exited by itself within the grace period
    text = out.getvalue()
    assert text.index("stopping web") < text.index("stopping worker")
    assert "did not stop in time" not in text


def test_a_worker_that_overruns_the_grace_period_is_killed(tmp_path: Path):
    stubborn = Program(
        "worker",
        f"{PY} -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'",
    )
    out = io.StringIO()
    supervisor = Supervisor([stubborn], grace=0.5, output=out)
    thread = running(supervisor)
    time.sleep(0.3)  # let it install its handler
    supervisor.request_stop()
    thread.join(timeout=30)
    assert stubborn.process.returncode == -signal.SIGKILL
    assert "worker did not stop in time" in out.getvalue()
