"""Secrets at rest: provider keys and MFA secrets are ciphertext in the database, and survive a
key rotation (new key first, old key still decrypts, re-encrypt, drop the old key)."""

from http import HTTPStatus

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from apps.core import crypto
from apps.users.models import Role
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db

OLD_KEY = "kJZ6gk0bXo3f6pUO5Yl4fAqkFv3Wg2sYB3lXh8cYg9E="
NEW_KEY = crypto.generate_key()


def _raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_provider_key_is_ciphertext_and_survives_rotation():
    from apps.providers.models import Provider

    provider = Provider.objects.create(name="Vendor", kind="openai", api_key="sk-test-plaintext-1234")
    stored = _raw("SELECT api_key FROM providers_provider WHERE id = %s", [provider.pk])
    assert stored.startswith(crypto.PREFIX) and "sk-test-plaintext" not in stored

    with override_settings(AMAS_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert Provider.objects.get(pk=provider.pk).api_key == "sk-test-plaintext-1234"  # old key decrypts
        call_command("reencrypt_secrets")
        rotated = _raw("SELECT api_key FROM providers_provider WHERE id = %s", [provider.pk])
        assert rotated != stored
    with override_settings(AMAS_ENCRYPTION_KEYS=[NEW_KEY]):
        assert Provider.objects.get(pk=provider.pk).api_key == "sk-test-plaintext-1234"
    with override_settings(AMAS_ENCRYPTION_KEYS=[OLD_KEY]), pytest.raises(crypto.DecryptionError):
        Provider.objects.get(pk=provider.pk)


def test_totp_secret_is_ciphertext_and_sign_in_survives_rotation(user_factory):
    admin = user_factory(role=Role.ADMIN)
    secret = enable_totp(admin)
    totp = Authenticator.objects.get(user=admin, type=Authenticator.Type.TOTP)
    stored = _raw("SELECT data::text FROM mfa_authenticator WHERE id = %s", [totp.pk])
    assert secret not in stored and crypto.PREFIX in stored

    with override_settings(AMAS_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("reencrypt_mfa_secrets")
    assert _raw("SELECT data::text FROM mfa_authenticator WHERE id = %s", [totp.pk]) != stored
    with override_settings(AMAS_ENCRYPTION_KEYS=[NEW_KEY]):
        client = login(Client(), admin, secret=secret)  # password + TOTP with only the new key
        assert client.get("/api/v1/me").status_code == HTTPStatus.OK
