"""A request that does not look like its user (new device and address) is asked to step up with
MFA before a sensitive action, and passes once it has."""

from http import HTTPStatus
from urllib.parse import unquote, urlparse

import pytest
from django.test import Client, override_settings

from apps.audit.models import AuditEvent
from apps.users.models import Role
from tests.users.factories import enable_totp, login, totp_code

pytestmark = pytest.mark.django_db


def _create_token(client, **extra):
    return client.post(
        "/api/v1/tokens", {"name": "ci", "scopes": ["tasks:read"]}, content_type="application/json", **extra
    )


def test_known_device_and_address_pass(user_factory):
    admin = user_factory(role=Role.ADMIN)
    client = login(Client(), admin, secret=enable_totp(admin))
    response = _create_token(client)
    assert response.status_code == HTTPStatus.CREATED
    event = AuditEvent.objects.get(event_type="token.create", entity_id=str(response.json()["id"]))
    assert event.trust_score == 100
    assert event.trust_factors["device"] == "known" and event.trust_factors["ip"] == "known"


@override_settings(MFA_TOTP_TOLERANCE=1)  # the sign-in used this period's code; step up with the next
def test_low_trust_request_must_step_up_with_mfa(user_factory):
    admin = user_factory(role=Role.ADMIN)
    secret = enable_totp(admin)
    client = login(Client(), admin, secret=secret)
    # The same session, replayed from another address without the device cookie (a stolen
    # session cookie, say): new IP -20, no device -30 -> 50 < 60.
    client.cookies.pop("amas_device")
    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    response = _create_token(client, **elsewhere)
    assert response.status_code == HTTPStatus.FORBIDDEN
    body = response.json()
    assert body["code"] == "step_up_required"
    assert body["trust_score"] < 60
    assert body["trust_factors"]["ip"] == "new" and body["trust_factors"]["device"] == "missing"
    step_up = urlparse(body["step_up_url"])
    assert step_up.path == "/accounts/2fa/reauthenticate/"

    # Step up: allauth's MFA re-authentication, with a fresh TOTP code.
    page = client.get(body["step_up_url"], **elsewhere)
    assert page.status_code == HTTPStatus.OK
    response = client.post(body["step_up_url"], {"code": totp_code(secret, offset=1)}, **elsewhere)
    assert response.status_code == HTTPStatus.FOUND
    assert AuditEvent.objects.filter(event_type="auth.step_up", actor=admin, ip="203.0.113.9").exists()

    response = _create_token(client, **elsewhere)
    assert response.status_code == HTTPStatus.CREATED
    event = AuditEvent.objects.get(event_type="token.create", entity_id=str(response.json()["id"]))
    assert event.ip == "203.0.113.9"
    assert event.trust_factors["ip"] == "known"  # the step-up made this address the user's


def test_failed_sign_ins_lower_trust(user_factory):
    analyst = user_factory(role=Role.ANALYST)
    for _ in range(4):
        Client().post("/accounts/login/", {"login": analyst.email, "password": "wrong"})
    client = login(Client(), analyst)
    me = client.get("/api/v1/me")
    assert me.status_code == HTTPStatus.OK
    response = _create_token(client)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["trust_factors"]["failed_auth"] == 4
    # Without MFA, the step-up is a password re-authentication.
    assert urlparse(response.json()["step_up_url"]).path == "/accounts/reauthenticate/"
    assert client.post("/accounts/reauthenticate/", {"password": "correct-horse-battery"}).status_code == 302
    assert _create_token(client).status_code == HTTPStatus.CREATED


def test_tokens_page_redirects_low_trust_to_step_up(user_factory):
    admin = user_factory(role=Role.ADMIN)
    client = login(Client(), admin, secret=enable_totp(admin))
    client.cookies.pop("amas_device")
    response = client.post("/tokens/", {"name": "x", "scopes": ["tasks:read"]}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == HTTPStatus.FOUND
    assert unquote(response["Location"]) == "/accounts/2fa/reauthenticate/?next=/tokens/"
