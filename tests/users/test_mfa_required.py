from http import HTTPStatus

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client, override_settings

from apps.users.models import Role
from tests.users.factories import PASSWORD, enable_totp, login

pytestmark = pytest.mark.django_db

ACTIVATE = "/accounts/2fa/totp/activate/"


def _password_login(client, user):
    client.get("/accounts/login/")
    return client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})


def test_admin_without_mfa_is_sent_to_set_it_up(user_factory):
    admin = user_factory(role=Role.ADMIN)
    client = Client()
    response = _password_login(client, admin)
    assert response["Location"] == ACTIVATE
    assert client.get("/")["Location"] == ACTIVATE
    assert client.get("/audit/")["Location"] == ACTIVATE
    api = client.get("/api/v1/me")
    assert api.status_code == HTTPStatus.FORBIDDEN and api.json()["code"] == "mfa_required"
    assert client.get(ACTIVATE).status_code == HTTPStatus.OK


def test_staff_need_mfa_and_the_admin_signs_in_through_allauth(user_factory):
    staff = user_factory(role=Role.ANALYST)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client = Client()
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith("/accounts/login/")
    _password_login(client, staff)
    assert client.get("/admin/")["Location"] == ACTIVATE
    secret = enable_totp(staff)
    client = login(Client(), staff, secret=secret)
    assert client.get("/admin/").status_code == HTTPStatus.OK


def test_analysts_need_mfa_only_when_required_for_all(analyst):
    client = Client()
    _password_login(client, analyst)
    assert client.get("/api/v1/me").status_code == HTTPStatus.OK
    with override_settings(AMAS_REQUIRE_MFA_FOR_ALL=True):
        assert client.get("/")["Location"] == ACTIVATE


def test_admins_cannot_remove_their_last_second_factor(user_factory):
    from allauth.mfa.adapter import get_adapter

    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    totp = Authenticator.objects.get(user=admin, type=Authenticator.Type.TOTP)
    assert get_adapter().can_delete_authenticator(totp) is False
    analyst = user_factory(role=Role.ANALYST)
    enable_totp(analyst)
    assert get_adapter().can_delete_authenticator(Authenticator.objects.get(user=analyst, type="totp"))


def test_tokens_of_users_who_must_have_mfa_stop_working_without_it(user_factory):
    from apps.users.services import token_create

    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    secret = token_create(user=admin, name="ci", scopes=["admin"]).secret
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert bearer.get("/api/v1/me").status_code == HTTPStatus.OK
    Authenticator.objects.filter(user=admin).delete()
    assert bearer.get("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED
