from django.apps import apps
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import Model

from apps.core.crypto import PREFIX, EncryptedJSONField, EncryptedTextField, rotate


def _encrypted_fields(model: type[Model]) -> list:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField | EncryptedJSONField)]


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column with the newest key of AMAS_ENCRYPTION_KEYS."

    def handle(self, *args: object, **options: object) -> None:
        total = 0
        quote = connection.ops.quote_name
        for model in apps.get_models():
            fields = _encrypted_fields(model)
            if not fields:
                continue
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            columns = [quote(f.column) for f in fields]
            # Ciphertext is rotated as stored: the plaintext never becomes a Python object here.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT {pk}, {', '.join(columns)} FROM {table} FOR UPDATE")  # noqa: S608
                for row_pk, *raw in cursor.fetchall():
                    updates = {
                        column: rotate(value)
                        for column, value in zip(columns, raw, strict=True)
                        if value and value.startswith(PREFIX)
                    }
                    if updates:
                        assignments = ", ".join(f"{column} = %s" for column in updates)
                        cursor.execute(
                            f"UPDATE {table} SET {assignments} WHERE {pk} = %s",  # noqa: S608
                            [*updates.values(), row_pk],
                        )
                        total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} rows with the newest key."))
        # MFA secrets live in allauth's tables (JSON data, encrypted by our adapter): their own
        # command rotates them, so one command covers every secret at rest.
        if "reencrypt_mfa_secrets" in get_commands():
            call_command("reencrypt_mfa_secrets", stdout=self.stdout)
