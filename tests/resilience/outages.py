"""Real outages of the test session's own Postgres and Redis (amas.testing.services), restored
on exit on the same socket/port so later tests see them as before."""

import contextlib
import os
import signal
from collections.abc import Iterator

from django.db import connections

from amas.testing import services
from amas.testing.connections import drop_all_threads


def _stack() -> services.TestStack:
    assert services.STACK is not None, "needs the embedded test stack (not AMAS_TEST_USE_ENV)"
    return services.STACK


@contextlib.contextmanager
def redis_stopped() -> Iterator[None]:
    redis = _stack().redis
    redis.stop()
    try:
        yield
    finally:
        redis.start()


@contextlib.contextmanager
def redis_frozen() -> Iterator[None]:
    """SIGSTOP: connections are accepted by the kernel but nothing answers."""
    pid = int(_stack().redis.pidfile.read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    postgres = _stack().postgres
    connections.close_all()
    postgres.stop()
    try:
        yield
    finally:
        postgres.start()
        connections.close_all()
        drop_all_threads()  # other threads' connections died with the server too
