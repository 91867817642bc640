"""Helpers that sign users in for real (allauth's login form, TOTP stage) and set up MFA through
allauth's own TOTP service, for tests across apps (tests/security uses them too)."""

import time
from http import HTTPStatus

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client

PASSWORD = "correct-horse-battery"


def totp_code(secret: str, *, offset: int = 0) -> str:
    """The current TOTP code for `secret` (offset in 30 s periods). Near the end of a period it
    waits for the next one: the server accepts only the current period's code (allauth's
    MFA_TOTP_TOLERANCE is 0), and a code made at 29.99 s reached it at 30.0x s once in CI."""
    left = 30 - time.time() % 30
    if offset == 0 and left < 2:
        time.sleep(left + 0.05)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + offset))


def enable_totp(user) -> str:
    """Activate TOTP (and recovery codes) for the user; returns the base32 secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def recovery_codes(user) -> list[str]:
    instance = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return RecoveryCodes(instance).get_unused_codes()


def login(client: Client, user, *, secret: str | None = None, remote_addr: str = "127.0.0.1") -> Client:
    """Sign in through allauth like a browser: fetch the form (which sets the device cookie),
    post the password and, for MFA users, a TOTP code."""
    client.get("/accounts/login/", REMOTE_ADDR=remote_addr)
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/",
        {"login": user.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        REMOTE_ADDR=remote_addr,
    )
    assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    if response["Location"].startswith("/accounts/2fa/authenticate"):
        assert secret, "this user has MFA: pass its TOTP secret"
        response = client.post(
            "/accounts/2fa/authenticate/",
            {"code": totp_code(secret), "csrfmiddlewaretoken": csrf},
            REMOTE_ADDR=remote_addr,
        )
        assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    return client
