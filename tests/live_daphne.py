"""A daphne process serving AMAS on the test session's database and Redis, for tests that need
a real server in another process (browser tests, cross-process cache invalidation)."""

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def daphne_serving(command: list[str], *, log_path: Path) -> Iterator[str]:
    """Run `command + ["-b", host, "-p", port, ...]` (a daphne command line without the address;
    the application is its last argument) and yield its base URL once it accepts connections.
    The server gets this process's settings module and the test database."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}:@/{db['NAME']}?host={db['HOST']}",
        # The same settings as this test process (password hashers, keys) whatever they are.
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "PYTHONPATH": str(ROOT),
    }
    *program, app = command
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [*program, "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
