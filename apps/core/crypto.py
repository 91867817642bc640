"""Secrets at rest. Values are encrypted with Fernet keys from AMAS_ENCRYPTION_KEYS (newest
first). Old keys still decrypt, so rotation is: prepend a new key, deploy, run
`manage.py reencrypt_secrets`, then drop the old key."""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc:v1:"


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("AMAS_ENCRYPTION_KEYS is empty: secrets cannot be stored.")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.AMAS_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        raise DecryptionError("Value is not an AMAS encrypted value.")
    try:
        return fernet().decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise DecryptionError("No configured key decrypts this value (was its key removed?).") from None


def rotate(token: str) -> str:
    """Re-encrypt with the newest key."""
    return PREFIX + fernet().rotate(token[len(PREFIX) :].encode()).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted. Empty stays empty (no secret configured)."""

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: object) -> str | None:
        prepared = super().get_prep_value(value)
        if not prepared:
            return prepared
        return encrypt(str(prepared))


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted as one text value (agent secrets, webhook headers)."""

    def from_db_value(self, value: str | None, expression: object, connection: object) -> dict:
        import json

        if not value:
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value: object) -> dict:
        import json

        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(str(value))

    def get_prep_value(self, value: object) -> str:
        import json

        if not value:
            return ""
        return encrypt(json.dumps(value, sort_keys=True))
