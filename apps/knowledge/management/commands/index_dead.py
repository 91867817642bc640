"""Index sources the queue gave up on (dead-lettered after AMAS_INDEX_MAX_ATTEMPTS failed
attempts; see apps/knowledge/index_queue.py): list them with their error, re-queue them once the
cause is fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.knowledge import index_queue


class Command(BaseCommand):
    help = "List dead-lettered index sources (--list) or put them back on the index queue (--requeue)."

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument(
            "--list", action="store_true", help="Show each dead source, when and why it failed."
        )
        action.add_argument(
            "--requeue",
            nargs="*",
            metavar="SOURCE",
            help="Re-queue these sources (task:<id>, result:<id>); every dead source when none is named.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            dead = index_queue.dead_letters()
            for source, letter in sorted(dead.items()):
                at = datetime.fromtimestamp(letter["at"], UTC).isoformat(timespec="seconds")
                self.stdout.write(f"{source}\t{at}\tattempts={letter['attempts']}\t{letter['error']}")
            self.stdout.write(f"{len(dead)} dead-lettered source(s)")
            return
        named = options["requeue"] or None
        requeued = index_queue.dead_requeue(named)
        if named:
            unknown = sorted(set(named) - set(requeued))
            if unknown:
                raise CommandError(f"Not dead-lettered (nothing re-queued for them): {', '.join(unknown)}")
        self.stdout.write(f"Re-queued {len(requeued)} source(s)")
