import logging
import os
import threading

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
    from django.db import close_old_connections

    close_old_connections()


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
