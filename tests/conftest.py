"""Shared fixtures. The embedded Postgres and Redis are started by the amas.testing.services
plugin before Django loads; here live the fixtures that use them."""

import os
import uuid

import pytest

import amas.testing.connections  # noqa: F401  (tracks connections from the start)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright + pytest-django


@pytest.fixture(scope="session")
def celery_worker_queues() -> list[str]:
    from django.conf import settings

    return list(settings.AMAS_QUEUES)


@pytest.fixture(autouse=True)
def _data_migration_rows(request):
    """Transactional tests end with a flush, which also deletes what data migrations created
    (provider presets, agent configs, beat entries): put them back for database tests."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db", "live_server"} & set(
        request.fixturenames
    )
    if uses_db:
        from amas.testing.reseed import data_migration_rows_missing, reseed

        if data_migration_rows_missing():
            reseed()


@pytest.fixture
def celery_worker(transactional_db, celery_worker_queues):
    """A real Celery worker (threads) consuming from the session's private Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from amas.celery import app

    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        queues=celery_worker_queues,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker
        _wait_until_idle()
        from apps.providers import bookkeeping

        # Ledger rows the worker's router calls left queued are written before the database is
        # flushed, and the writer thread's connection (kept: the worker sets CONN_MAX_AGE) closes.
        bookkeeping.stop()


def _wait_until_idle(timeout: float = 15.0) -> None:
    """Let tasks the test set off (indexing, webhooks, the next step) finish before the worker
    stops and the database is flushed under them."""
    import time

    from celery.worker import state

    deadline = time.monotonic() + timeout
    while (state.active_requests or state.reserved_requests) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def organization(db):
    from apps.users.services import organization_get_or_create

    return organization_get_or_create(name=f"Org {uuid.uuid4().hex[:8]}")


@pytest.fixture
def user_factory(db, organization):
    from apps.users.models import Role
    from apps.users.services import user_create

    def make(*, role: str = Role.ANALYST, org=None, email: str | None = None):
        return user_create(
            email=email or f"{uuid.uuid4().hex[:10]}@example.org",
            password="correct-horse-battery",
            organization=org or organization,
            role=role,
        )

    return make


@pytest.fixture
def analyst(user_factory):
    return user_factory()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Before the test database is dropped, report the sessions other than ours still connected
    to it (threads of in-process workers, background writers) and close this process's."""
    yield
    from amas.testing.connections import report_and_close_leftovers

    with django_db_blocker.unblock():
        report_and_close_leftovers()
