"""The web server: several daphne processes accepting on one listening socket.

Daphne runs Django's sync views on one thread per process, so one process serves about
1/latency requests a second and uses at most one core. The API is stateless (sessions, rate
limits, the channel layer and metrics live in Redis and Postgres), so N processes serve N times
the requests while every one of them still speaks ASGI, websockets included. The socket is bound
here once and inherited (`daphne --fd`): the kernel hands each connection to one process, and
there is no port per process and no proxy in front.

    python -m amas.web [--host H] [--port P] [--processes N] [--app module:attr] [daphne options]

Defaults: AMAS_HOST (127.0.0.1), AMAS_PORT (8000), AMAS_WEB_PROCESSES (1). With one process this
simply becomes daphne (exec, binding the port itself): the port is refused until Django has loaded,
so a client retries instead of waiting. With N > 1 the port accepts as soon as the parent binds it,
and connections made while the children load wait in the backlog (on a loaded machine for longer
than a client's read timeout: seen in the resilience suite's web-kill test) — which is why one
process is the default: on this 2-core machine a second process measured no gain (the worker needs
the cores, docs/benchmarks.md) and costs ~125 MiB. A process that dies is started again after a
back-off; SIGTERM or SIGINT stops them all (SIGTERM to each, SIGKILL after 10 s). `amas.supervisor`
runs this as `web`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

DAPHNE = "from daphne.cli import CommandLineInterface; CommandLineInterface.entrypoint()"


def default_processes() -> int:
    return max(1, int(os.environ.get("AMAS_WEB_PROCESSES") or 1))


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def _spawn(fd: int, extra: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DAPHNE, "--fd", str(fd), *extra], pass_fds=(fd,))


def serve(host: str, port: int, processes: int, extra: list[str] | None = None) -> int:
    extra = extra or []
    # Web processes take database connections from a process-wide pool (amas/settings/base.py).
    os.environ.setdefault("AMAS_DATABASE_POOL", "true")
    if processes == 1:  # no parent in between: signals, exit codes and port readiness are daphne's own
        os.execv(sys.executable, [sys.executable, "-c", DAPHNE, "-b", host, "-p", str(port), *extra])  # noqa: S606
    sock = listen(host, port)
    fd = sock.fileno()
    children = [_spawn(fd, extra) for _ in range(processes)]
    print(f"amas.web: {processes} daphne process(es) on {host}:{port}", flush=True)
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop)
    started = [time.monotonic()] * processes
    backoff = [0.0] * processes
    restart_at: list[float | None] = [None] * processes
    while not stopping:
        time.sleep(0.2)
        now = time.monotonic()
        for i, child in enumerate(children):
            if restart_at[i] is not None:
                if now >= restart_at[i]:  # type: ignore[operator]
                    children[i], started[i], restart_at[i] = _spawn(fd, extra), now, None
                continue
            code = child.poll()
            if code is None:
                continue
            backoff[i] = 1.0 if now - started[i] >= 30 else min(30.0, backoff[i] * 2 or 1.0)
            restart_at[i] = now + backoff[i]
            print(f"amas.web: pid {child.pid} exited ({code}); restart in {backoff[i]:.0f}s", flush=True)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    sock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("AMAS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AMAS_PORT", "8000")))
    parser.add_argument("--processes", type=int, default=default_processes())
    parser.add_argument("--app", default="amas.asgi:application", help="the ASGI application")
    args, extra = parser.parse_known_args(argv)  # the rest goes to daphne (e.g. --access-log -)
    return serve(args.host, args.port, max(1, args.processes), [*extra, args.app])


if __name__ == "__main__":
    sys.exit(main())
