"""allauth's account and two-factor pages render the app's own markup (templates/account/,
templates/mfa/): a card with a heading, each input in the app's field block, and they still do
what allauth does with it. The browser side is tests/ui/test_accounts.py."""

import re
from http import HTTPStatus

import pytest
from django.test import Client

from apps.users.models import Role
from tests.ui.browser import PASSWORD
from tests.users.factories import enable_totp, login, recovery_codes, totp_code

pytestmark = pytest.mark.django_db


def _app_markup(html: str) -> None:
    main = html.split("<main", 1)[1]
    assert 'class="card' in main
    # allauth's default element templates are not used: no bare <p> wrapped inputs from as_p.
    inputs = re.findall(r"<input[^>]*>", main)
    visible = [i for i in inputs if 'type="hidden"' not in i]
    assert visible, "a form page shows its inputs"
    assert main.count('class="field') >= 1


def test_two_factor_management_pages_use_the_apps_forms(user_factory):
    admin = user_factory(role=Role.ADMIN)
    secret = enable_totp(admin)
    client = login(Client(), admin, secret=secret)

    index = client.get("/accounts/2fa/").content.decode()
    assert "Turn off" in index and "Generate new codes" in index and "10 of 10 recovery codes unused" in index

    # Changing a factor asks for the password again first (allauth), on the app's form.
    response = client.get("/accounts/2fa/recovery-codes/generate/")
    assert response["Location"].startswith("/accounts/reauthenticate/")
    _app_markup(client.get(response["Location"]).content.decode())
    assert client.post(response["Location"], {"password": PASSWORD}).status_code == HTTPStatus.FOUND
    response = client.get("/accounts/2fa/recovery-codes/generate/")
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "The 10 codes you have now will stop working." in html
    old = set(recovery_codes(admin))
    response = client.post("/accounts/2fa/recovery-codes/generate/")
    assert response.status_code == HTTPStatus.FOUND
    assert not old & set(recovery_codes(admin))

    response = client.get("/accounts/2fa/totp/deactivate/")
    assert response.status_code == HTTPStatus.OK
    assert "Turn off the authenticator app" in response.content.decode()


def test_reauthentication_pages_use_the_apps_forms(user_factory):
    admin = user_factory(role=Role.ADMIN)
    secret = enable_totp(admin)
    client = login(Client(), admin, secret=secret)

    html = client.get("/accounts/2fa/reauthenticate/").content.decode()
    _app_markup(html)
    assert "Confirm it is you" in html
    wrong = next(c for c in ("000000", "123456", "999999") if c != totp_code(secret))
    html = client.post("/accounts/2fa/reauthenticate/", {"code": wrong}).content.decode()
    assert re.search(r'class="field has-error".*?Incorrect code\.', html, re.S)  # next to its field

    html = client.get("/accounts/reauthenticate/").content.decode()
    _app_markup(html)
    assert 'name="password"' in html


def test_password_reset_pages(analyst, mailoutbox):
    client = Client()
    html = client.get("/accounts/password/reset/").content.decode()
    _app_markup(html)
    response = client.post("/accounts/password/reset/", {"email": analyst.email})
    assert response.status_code == HTTPStatus.FOUND
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mailoutbox[0].body).group(1)
    response = client.get(link, follow=True)
    html = response.content.decode()
    assert "Choose a new password" in html
    _app_markup(html)
    assert "This link no longer works" in client.get("/accounts/password/reset/key/1-bad/").content.decode()
