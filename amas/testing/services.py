"""pytest plugin: the test session's own embedded Postgres and Redis.

Loaded with `-p amas.testing.services` (pyproject addopts). It starts the services before
pytest-django imports the settings (a hook wrapper on pytest_load_initial_conftests runs ahead of
pytest-django's hook), on free ports and a temporary data directory, never the dev ones, and
stops them in pytest_unconfigure, which pytest runs on failures and on Ctrl-C too.
Set AMAS_TEST_USE_ENV=1 to test against DATABASE_URL/REDIS_URL from the environment instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from amas.stack import EmbeddedPostgres, EmbeddedRedis


@dataclass
class TestStack:
    root: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    stopped: bool = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.redis.stop()
        self.postgres.stop()
        shutil.rmtree(self.root, ignore_errors=True)


STACK: TestStack | None = None


def start_stack() -> TestStack:
    root = Path(tempfile.mkdtemp(prefix="amas-test-"))
    os.chmod(root, 0o755)  # noqa: S103 - the embedded server runs as its own system user when we are root
    stack = TestStack(root, EmbeddedPostgres(root / "pg"), EmbeddedRedis(root / "redis"))
    try:
        database_url = stack.postgres.start(database="amas")
        redis_url = stack.redis.start()
    except BaseException:
        stack.stop()
        raise
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    # Keep the dev stack's var/stack.env out of the picture.
    os.environ["AMAS_VAR_DIR"] = str(root / "var")
    return stack


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global STACK
    if not os.environ.get("AMAS_TEST_USE_ENV") and STACK is None:
        STACK = start_stack()
        atexit.register(STACK.stop)
    return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    if STACK is not None:
        STACK.stop()
