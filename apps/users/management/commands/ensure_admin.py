import os

from django.core.management.base import BaseCommand

from apps.users.services import admin_ensure


class Command(BaseCommand):
    help = "Create the first admin account if none exists (AMAS_ADMIN_EMAIL / AMAS_ADMIN_PASSWORD)."

    def handle(self, *args: object, **options: object) -> None:
        user, generated = admin_ensure(
            email=os.environ.get("AMAS_ADMIN_EMAIL"), password=os.environ.get("AMAS_ADMIN_PASSWORD")
        )
        if user is None:
            self.stdout.write("An admin account exists already.")
            return
        self.stdout.write(self.style.SUCCESS(f"Created admin account: {user.email}"))
        if generated:
            # Printed exactly once; it is not stored anywhere in clear text.
            self.stdout.write(self.style.WARNING(f"Password (shown once): {generated}"))
