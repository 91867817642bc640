import socket

from celery import shared_task

from apps.core.services import worker_ping_record


@shared_task(name="core.worker_ping")
def worker_ping_task(token: str) -> str:
    worker_ping_record(token=token, hostname=socket.gethostname())
    return token


@shared_task(name="core.noop")
def noop_task() -> None:
    """Does nothing: the broker round trip that benchmarks compare the pipeline against."""
