"""Keeps the Procfile's processes (the web server amas.web with its daphne processes, Celery
worker, Celery beat) running.

honcho stops every process as soon as one exits; here a process that dies is logged and started
again after a back-off (1 s, doubling up to 30 s; reset once it stayed up for 30 s), and only
`stop()` (Ctrl-C / SIGTERM in the runner) ends them. Stopping is warm and ordered: the web process
and beat get SIGTERM first, then the worker gets SIGTERM, which is Celery's warm shutdown (it takes
no new messages and lets running steps finish) for up to `grace` seconds; whatever is still alive
then is killed with its whole process group (a step cut short that way is re-run by the reaper).

Each program runs in its own session, so a terminal's Ctrl-C reaches only the supervisor, which
decides the order; and a worker whose main process died can be cleaned up together with its pool
children (they would otherwise keep running steps nobody records).

`python -m amas.supervisor [Procfile]` runs the Procfile against the services named by the
environment (DATABASE_URL, REDIS_URL); `amas.runner` adds the embedded Postgres and Redis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger("amas.supervisor")

# Stop order: the web process (no new requests) and beat (no new schedules), then the workers.
STOP_ORDER = ("web", "beat", "worker")
# Procfile programs that run only when their variable is set (the inbound task-request consumer).
OPTIONAL = {"inbound": "AMAS_INBOUND_AMQP_URL"}


@dataclass
class Program:
    name: str
    command: str  # a shell command line, as in a Procfile
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)


def read_procfile(path: Path) -> list[Program]:
    programs = []
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match and not line.lstrip().startswith("#"):
            if match.group(1) in OPTIONAL and not os.environ.get(OPTIONAL[match.group(1)]):
                continue  # an optional integration that is not configured
            programs.append(Program(match.group(1), match.group(2)))
    return programs


class Supervisor:
    def __init__(
        self,
        programs: list[Program],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 30.0,
        grace: float = 30.0,
        output: IO[str] | None = None,
    ) -> None:
        self.programs = programs
        self.env = dict(env if env is not None else os.environ)
        self.cwd = cwd
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.grace = grace
        self.output = output or sys.stdout
        self._stopping = threading.Event()
        self._force = threading.Event()
        self._write_lock = threading.Lock()
        self._width = max((len(p.name) for p in programs), default=4)

    # ------------------------------------------------------------------ output

    def say(self, name: str, text: str) -> None:
        with self._write_lock:
            self.output.write(f"{time.strftime('%H:%M:%S')} {name:<{self._width}} | {text.rstrip()}\n")
            self.output.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode("utf-8", "replace"))
        stream.close()

    # ------------------------------------------------------------------ processes

    def _start(self, program: Program) -> None:
        # exec: the shell is replaced, so the pid we signal is the program's own.
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {program.command}"],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        program.process = process
        program.started_at = time.monotonic()
        program.restart_at = None
        assert process.stdout is not None
        threading.Thread(target=self._pump, args=(program.name, process.stdout), daemon=True).start()
        self.say("supervisor", f"started {program.name} (pid {process.pid})")

    @staticmethod
    def _kill_group(program: Program) -> None:
        """SIGKILL the program's process group: its pool children die with it."""
        if program.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(program.process.pid, signal.SIGKILL)

    def _on_exit(self, program: Program, code: int) -> None:
        program.exits.append(code)
        self._kill_group(program)  # orphaned pool children of a killed worker
        ran = time.monotonic() - program.started_at
        if ran >= self.stable_after or not program.backoff:
            program.backoff = self.backoff_initial
        else:
            program.backoff = min(self.backoff_max, program.backoff * 2)
        program.restart_at = time.monotonic() + program.backoff
        self.say(
            "supervisor",
            f"{program.name} exited with code {code} after {ran:.1f}s; restarting in {program.backoff:.0f}s",
        )

    def start(self) -> None:
        for program in self.programs:
            self._start(program)

    def poll_once(self) -> None:
        now = time.monotonic()
        for program in self.programs:
            if program.process is not None and program.restart_at is None:
                code = program.process.poll()
                if code is not None:
                    self._on_exit(program, code)
            if program.restart_at is not None and now >= program.restart_at and not self._stopping.is_set():
                program.restarts += 1
                self._start(program)

    def run(self, poll_interval: float = 0.2) -> None:
        """Start everything and keep it running until request_stop(); then stop in order."""
        self.start()
        while not self._stopping.is_set():
            self.poll_once()
            self._stopping.wait(poll_interval)
        self.stop()

    def request_stop(self, *, force: bool = False) -> None:
        """Safe from a signal handler. A second request (a second Ctrl-C) skips the grace period."""
        if self._stopping.is_set() or force:
            self._force.set()
        self._stopping.set()

    # ------------------------------------------------------------------ stopping

    @staticmethod
    def _is_worker(program: Program) -> bool:
        return program.name.startswith("worker")

    def stop(self) -> None:
        """Web processes and beat first (together), then the workers with the grace period."""
        self._stopping.set()
        front = [p for p in self.programs if not self._is_worker(p)]
        front.sort(key=lambda p: STOP_ORDER.index(p.name) if p.name in STOP_ORDER else len(STOP_ORDER))
        self._stop_together(front, timeout=min(self.grace, 10.0))
        self._stop_together([p for p in self.programs if self._is_worker(p)], timeout=self.grace)
        self.say("supervisor", "all processes stopped")

    def _stop_together(self, programs: list[Program], *, timeout: float) -> None:
        alive = []
        for program in programs:
            process = program.process
            if process is None or process.poll() is not None:
                self._kill_group(program)
                continue
            warm = " (warm: running steps finish)" if self._is_worker(program) else ""
            self.say("supervisor", f"stopping {program.name}{warm}")
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            alive.append(program)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._force.is_set():
            if all(p.process is not None and p.process.poll() is not None for p in alive):
                break
            time.sleep(0.1)
        for program in alive:
            assert program.process is not None
            if program.process.poll() is None:
                self.say("supervisor", f"{program.name} did not stop in time; killing it")
            self._kill_group(program)
            with contextlib.suppress(subprocess.TimeoutExpired):
                program.process.wait(timeout=5)


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    procfile = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "Procfile"
    supervisor = Supervisor(
        read_procfile(procfile),
        cwd=procfile.parent,
        grace=float(os.environ.get("AMAS_SHUTDOWN_GRACE_SECONDS", "30")),
    )

    def _stop(signum: int, frame: object) -> None:
        supervisor.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    supervisor.run()


if __name__ == "__main__":
    main()
