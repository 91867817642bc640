"""`python manage.py inbound_consume`: read task requests from AMAS_INBOUND_AMQP_URL's queue until
SIGTERM/SIGINT (the Procfile's optional `inbound` line; see apps/eventsinks/inbound.py).

`inbound_consume --check [--max-age S]` is the probe: exit 0 when the running consumer's loop marked
AMAS_INBOUND_ALIVE_FILE within S seconds, 1 otherwise (it never started, died or hangs)."""

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Consume task requests from the inbound AMQP queue (AMAS_INBOUND_AMQP_URL)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="Probe a running consumer and exit.")
        parser.add_argument("--max-age", type=float, default=60.0, help="Seconds (with --check).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            self._check(max_age=options["max_age"])
            return
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

    def _check(self, *, max_age: float) -> None:
        from apps.eventsinks.inbound_consumer import alive_age

        if not settings.AMAS_INBOUND_ALIVE_FILE:
            raise CommandError("Set AMAS_INBOUND_ALIVE_FILE to probe the consumer.")
        age = alive_age(settings.AMAS_INBOUND_ALIVE_FILE)
        if age is None:
            raise CommandError("The inbound consumer has not started (no liveness file).")
        if age > max_age:
            raise CommandError(f"The inbound consumer's loop last ran {age:.0f}s ago (limit {max_age:.0f}s).")
        self.stdout.write(f"alive ({age:.1f}s ago)")
