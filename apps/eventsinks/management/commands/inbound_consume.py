"""`python manage.py inbound_consume`: read task requests from AMAS_INBOUND_AMQP_URL's queue until
SIGTERM/SIGINT (the Procfile's optional `inbound` line; see apps/eventsinks/inbound.py)."""

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Consume task requests from the inbound AMQP queue (AMAS_INBOUND_AMQP_URL)."

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.eventsinks.inbound_consumer import InboundConsumer
        from apps.users.services import token_authenticate

        if not settings.AMAS_INBOUND_AMQP_URL:
            raise CommandError("Set AMAS_INBOUND_AMQP_URL (amqp://user:password@host:5672/vhost).")
        if token_authenticate(secret=settings.AMAS_INBOUND_TOKEN, ip="inbound-amqp") is None:
            # Started anyway would reject every request; say so once, clearly.
            raise CommandError("AMAS_INBOUND_TOKEN is not an active API token of an active service account.")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Consuming task requests from {settings.AMAS_INBOUND_QUEUE}")
        InboundConsumer(stop=stop).run()
