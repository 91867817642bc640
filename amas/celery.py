import os

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
        connections[alias].settings_dict["CONN_MAX_AGE"] = settings.AMAS_WORKER_CONN_MAX_AGE
