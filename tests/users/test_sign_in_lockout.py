"""Too many failed sign-ins answer 429 with Retry-After, counted per account and per real client
address (X-Forwarded-For counts only through a trusted proxy), through allauth's real form."""

import uuid
from http import HTTPStatus

import pytest
from django.test import Client, override_settings

from tests.users.factories import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.9.0.2"


def address() -> str:
    """A client address no other test has counted failures for."""
    return f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def sign_in(user, password="wrong-guess", **meta):
    return Client(**meta).post("/accounts/login/", {"login": user.email, "password": password})


@override_settings(ACCOUNT_RATE_LIMITS={"login_failed": "100/m/ip,3/5m/key"})
def test_an_account_is_locked_whatever_address_guesses(user_factory):
    user = user_factory()
    for _ in range(3):
        assert sign_in(user, REMOTE_ADDR=address()).status_code == HTTPStatus.OK  # the form, with an error
    locked = sign_in(user, password=PASSWORD, REMOTE_ADDR=address())  # even the right password
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 1 <= int(locked["Retry-After"]) <= 300
    assert b"Too many failed login attempts" in locked.content
    assert sign_in(user_factory(), REMOTE_ADDR=address()).status_code == HTTPStatus.OK  # others are not


@override_settings(ACCOUNT_RATE_LIMITS={"login_failed": "3/m/ip,100/5m/key"})
def test_an_address_is_locked_whatever_account_it_tries(user_factory):
    peer = address()
    for _ in range(3):
        assert sign_in(user_factory(), REMOTE_ADDR=peer).status_code == HTTPStatus.OK
    locked = sign_in(user_factory(), REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=address())
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS  # a made-up header changes nothing
    assert 1 <= int(locked["Retry-After"]) <= 60
    assert sign_in(user_factory(), REMOTE_ADDR=address()).status_code == HTTPStatus.OK


@override_settings(
    ACCOUNT_RATE_LIMITS={"login_failed": "3/m/ip,100/5m/key"}, AMAS_TRUSTED_PROXIES=["10.9.0.0/24"]
)
def test_behind_a_trusted_proxy_each_real_client_has_its_own_count(user_factory):
    guesser, bystander = address(), address()
    for _ in range(3):
        sign_in(user_factory(), REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=guesser)
    locked = sign_in(user_factory(), REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=guesser)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Everyone else arrives from the same proxy, and is not locked out with the guesser.
    other = sign_in(user_factory(), REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=bystander)
    assert other.status_code == HTTPStatus.OK
