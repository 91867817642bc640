from django.core.management.base import BaseCommand

from apps.users.services import mfa_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt TOTP secrets with the newest key of AMAS_ENCRYPTION_KEYS (run after reencrypt_secrets)."
    )

    def handle(self, *args: object, **options: object) -> None:
        count = mfa_secrets_reencrypt()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} TOTP secrets with the newest key."))
