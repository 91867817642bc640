from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exit 1 naming the first edited, deleted or reordered row."

    def handle(self, *args: object, **options: object) -> None:
        report = audit_chain_verify()
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(f"Audit chain intact: {report.checked} rows, head {report.head_hash}.")
            )
            return
        raise CommandError(
            f"Audit chain broken at {report.first_break} ({report.checked} rows verified before it).",
            returncode=1,
        )
