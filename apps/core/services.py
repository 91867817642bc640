from django.db import transaction

from apps.core import realtime
from apps.core.models import WorkerPing


def worker_ping_record(*, token: str, hostname: str) -> WorkerPing:
    ping, _ = WorkerPing.objects.get_or_create(token=token, defaults={"hostname": hostname})
    transaction.on_commit(lambda: realtime.ping_broadcast(token=token, hostname=hostname))
    return ping
