import logging
import os
import select
import threading
import time

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amas.settings.local")

app = Celery("amas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _persistent_database_connections(**kwargs: object) -> None:
    """A worker runs one step after another in the same thread or process: keep its database
    connection between tasks instead of reconnecting for each (health-checked before reuse)."""
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        # A pool's threads do not survive the prefork pool's fork; a worker thread keeps one
        # connection of its own instead.
        connections[alias].settings_dict["OPTIONS"].pop("pool", None)
        connections[alias].settings_dict["CONN_MAX_AGE"] = settings.AMAS_WORKER_CONN_MAX_AGE


@signals.task_postrun.connect
def _database_connections_checked(**kwargs: object) -> None:
    """After each task: drop a connection that broke (errors_occurred and unusable) or outlived
    CONN_MAX_AGE, as Django does after each request; keep the others for the next task (see
    CELERY_DB_REUSE_MAX in settings for why Celery itself no longer closes them)."""
    from django.db import close_old_connections, connections

    close_old_connections()
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        connection.amas_released_at = now  # type: ignore[attr-defined]


@signals.task_prerun.connect
def _database_connections_trusted(**kwargs: object) -> None:
    """Before each task: spare a recently used connection Django's health check (a SELECT 1
    round trip before the task's first query; -0.2 ms p50 of a no-op step, same-run A/B in
    docs/benchmarks.md) when nothing can have happened to it since. What a Postgres restart or
    a killed backend does to an idle connection is close its socket (or send an error first):
    either makes the socket readable, and an idle connection has nothing else to read. So a
    connection that is idle, not broken, whose socket has nothing to read (a poll that does not
    wait) and that ended its last task less than AMAS_WORKER_HEALTH_CHECK_AFTER_SECONDS ago is
    trusted; any other is checked as before. One trusted that fails anyway (a peer gone without
    a word within those seconds) fails like a connection lost during a task: a step retries
    (apps/tasks/tasks.py::DEPENDENCY_ERRORS) and close_old_connections drops the connection."""
    from django.conf import settings
    from django.db import connections

    fresh_for = settings.AMAS_WORKER_HEALTH_CHECK_AFTER_SECONDS
    if fresh_for <= 0:
        return
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        released = getattr(connection, "amas_released_at", None)
        # health_check_enabled/_done: Django's own flags (4.1+), unknown to django-stubs.
        if (
            getattr(connection, "health_check_enabled", False)
            and not getattr(connection, "health_check_done", True)
            and released is not None
            and now - released < fresh_for
            and _quiet(connection.connection)
        ):
            connection.health_check_done = True  # type: ignore[attr-defined]


def _quiet(raw: object) -> bool:
    """An open, idle psycopg connection whose socket has nothing to read."""
    try:
        from psycopg import Connection
        from psycopg.pq import TransactionStatus
    except ImportError:
        return False
    if not isinstance(raw, Connection) or raw.closed or raw.broken:
        return False
    if raw.info.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        readable, _writable, _failed = select.select([raw.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


@signals.worker_process_shutdown.connect
def _metrics_flushed(**kwargs: object) -> None:
    """A pool child leaves through os._exit (atexit handlers do not run): send the metrics it
    buffered (task counts, task events; apps/core/metrics.py record_later) before it goes."""
    from apps.core import metrics

    try:
        metrics.flush()
    except Exception:  # never keep a child from exiting
        logging.getLogger(__name__).warning("Could not send a pool child's metrics", exc_info=True)


_reaper_stop = threading.Event()


@signals.worker_ready.connect
def _start_reaper(**kwargs: object) -> None:
    """Every worker reaps expired leases and re-sends lost step messages itself (see
    apps/tasks/reaper.py::reaper_loop); beat's schedule stays as a second source. A second
    thread retries artefact moves into storage that failed at commit (_staging_loop)."""
    from django.conf import settings

    if not settings.AMAS_WORKER_REAPER:
        return
    from apps.tasks.reaper import reaper_loop

    _reaper_stop.clear()
    threading.Thread(target=reaper_loop, args=(_reaper_stop,), name="amas-reaper", daemon=True).start()
    threading.Thread(target=_staging_loop, args=(_reaper_stop,), name="amas-staging", daemon=True).start()


def _staging_loop(stop: threading.Event) -> None:
    """Artefact files whose move into storage failed at commit (storage unreachable) are moved
    again from here, on the host whose staging disk holds them; stale staging files are swept.
    In a thread of its own so a slow storage never delays the reaper."""
    from django.conf import settings
    from django.db import connection

    from apps.knowledge.staging import staging_maintain

    log = logging.getLogger("amas.staging")
    interval = settings.AMAS_REAPER_INTERVAL_SECONDS
    while not stop.wait(interval):
        try:
            staging_maintain()
        except Exception:  # Postgres away: next interval
            log.warning("Staging pass failed; retrying in %.0fs", interval, exc_info=True)
        finally:
            connection.close()  # as the reaper: never shared with a pool child forked meanwhile


@signals.worker_shutdown.connect
def _stop_reaper(**kwargs: object) -> None:
    _reaper_stop.set()
