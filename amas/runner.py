"""`make run`: the whole of AMAS on one machine with no Docker and no accounts.

Starts embedded PostgreSQL + pgvector and Redis under var/, migrates, makes sure an admin exists,
then runs daphne, a Celery worker and Celery beat (Procfile) under amas.supervisor, which restarts
any of them that dies. Ctrl-C (or SIGTERM) is a warm shutdown: the worker lets running steps
finish for up to AMAS_SHUTDOWN_GRACE_SECONDS, then Redis and Postgres stop last; data (including
Redis's append-only file) stays in var/ for the next run. A lock file makes a second
`make run` on the same var/ refuse instead of starting a second Postgres on the same data.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

from amas.env import BASE_DIR, VAR_DIR
from amas.stack import EmbeddedPostgres, EmbeddedRedis, free_port, port_is_free
from amas.supervisor import Supervisor, read_procfile


def _acquire_lock(path: Path):  # returns an open file that holds the lock
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        print(f"AMAS is already running from {VAR_DIR} (pid {owner}). Stop it first (Ctrl-C).")
        sys.exit(1)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, check=True)


def _stop_on_termination(signum: int, frame: object) -> None:
    # SIGTERM/SIGHUP (a supervisor, a closed terminal) shut down like Ctrl-C does.
    signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
    raise KeyboardInterrupt


def _stop_leftover_redis(redis: EmbeddedRedis) -> None:
    """A previous run that was killed hard may have left its Redis daemon behind; we hold the lock,
    so nothing of ours uses it any more."""
    try:
        pid = int(redis.pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    redis.pidfile.unlink(missing_ok=True)


def main() -> None:
    lock = _acquire_lock(VAR_DIR / "run.lock")
    # SIGINT too: a process started in the background inherits SIGINT ignored, and then Python
    # would never raise KeyboardInterrupt for it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_termination)
    postgres = EmbeddedPostgres(VAR_DIR / "postgres")
    redis = EmbeddedRedis(
        VAR_DIR / "redis", port=int(os.environ.get("AMAS_REDIS_PORT", "0")), persistent=True
    )
    web_port = int(os.environ.get("AMAS_PORT", "8000"))
    if not port_is_free(web_port):
        web_port = free_port()
    try:
        print("Starting PostgreSQL (embedded) ...", flush=True)
        database_url = postgres.start()
        print("Starting Redis ...", flush=True)
        _stop_leftover_redis(redis)
        redis_url = redis.start()
        (VAR_DIR / "stack.env").write_text(f"DATABASE_URL={database_url}\nREDIS_URL={redis_url}\n")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "amas.settings.local"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "AMAS_PORT": str(web_port),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        _manage("migrate", "--noinput", env=env)
        _manage("ensure_admin", env=env)
        # The shipped YARA rules are on out of the box (an admin may disable them; that sticks).
        _manage("known_good", "--yara", env=env)
        host = os.environ.get("AMAS_HOST", "127.0.0.1")
        print(
            f"\n  AMAS is starting at http://{host}:{web_port}/  (admin: /admin/, API docs: /api/v1/docs)\n"
            "  Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        supervisor = Supervisor(
            read_procfile(BASE_DIR / "Procfile"),
            env=env,
            cwd=BASE_DIR,
            grace=float(os.environ.get("AMAS_SHUTDOWN_GRACE_SECONDS", "30")),
        )

        def _stop(signum: int, frame: object) -> None:
            supervisor.request_stop()  # a second Ctrl-C skips the grace period

        # From here on a signal asks the supervisor for an ordered stop instead of interrupting.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _stop)
        supervisor.run()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # nothing interrupts stopping Redis and Postgres
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping Redis and PostgreSQL ...", flush=True)
        if redis.port:
            redis.stop()
        postgres.stop()
        (VAR_DIR / "stack.env").unlink(missing_ok=True)
        lock.close()


if __name__ == "__main__":
    main()
