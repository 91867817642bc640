"""Sign-up is closed unless switched on; password change and reset work and are audited."""

import re
from http import HTTPStatus

import pytest
from django.core import mail
from django.test import Client, override_settings

from apps.audit.models import AuditEvent
from apps.users.models import Role, User
from tests.users.factories import PASSWORD, login

pytestmark = pytest.mark.django_db


def _signup(client, email):
    client.get("/accounts/signup/")
    return client.post(
        "/accounts/signup/", {"email": email, "password1": "a-Long-pass-9!", "password2": "a-Long-pass-9!"}
    )


def test_signup_is_closed_by_default():
    client = Client()
    response = _signup(client, "walk-in@example.org")
    assert b"Sign-up is closed" in response.content  # templates/account/signup_closed.html
    assert not User.objects.filter(email="walk-in@example.org").exists()


@override_settings(ACCOUNT_ALLOW_REGISTRATION=True)
def test_open_signup_joins_the_default_organisation_as_viewer():
    response = _signup(Client(), "newcomer@example.org")
    assert response.status_code == HTTPStatus.FOUND
    user = User.objects.get(email="newcomer@example.org")
    assert user.role == Role.VIEWER and user.organization.name == "Default"


def test_password_change_is_audited(analyst):
    client = login(Client(), analyst)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "n3w-Secret-pass!", "password2": "n3w-Secret-pass!"},
    )
    assert response.status_code == HTTPStatus.FOUND
    event = AuditEvent.objects.get(event_type="auth.password_changed", actor=analyst)
    assert "n3w-Secret-pass!" not in str(event.changes)
    analyst.refresh_from_db()
    assert analyst.check_password("n3w-Secret-pass!")


def test_password_reset_by_email(analyst):
    client = Client()
    client.post("/accounts/password/reset/", {"email": analyst.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://[^\s]+/accounts/password/reset/key/[^\s]+", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    response = client.get(path)
    assert response.status_code == HTTPStatus.FOUND  # allauth moves the key into the session
    response = client.post(
        response["Location"], {"password1": "r3set-Secret-pass!", "password2": "r3set-Secret-pass!"}
    )
    assert response.status_code == HTTPStatus.FOUND
    analyst.refresh_from_db()
    assert analyst.check_password("r3set-Secret-pass!")
    assert AuditEvent.objects.filter(event_type="auth.password_reset", actor=analyst).exists()
