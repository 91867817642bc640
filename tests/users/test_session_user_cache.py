"""A session's user is cached per process (apps/users/session_user.py), yet every change to the
user holds on the next request, in this process and in another one: a password change ends the
session, deactivation and deletion sign it out, a role or organisation change is seen at once.
A cached answer costs no query on the users table; a session whose auth hash does not match is
never answered from the cache."""

import json
import sys
import urllib.error
import urllib.request

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.users import session_user
from apps.users.members import member_set_role
from apps.users.models import Role, User
from apps.users.services import organization_get_or_create
from tests.live_daphne import daphne_serving
from tests.users.factories import enable_totp

ME = "/api/v1/me"


def _user_queries(captured: CaptureQueriesContext) -> list[str]:
    table = User._meta.db_table
    return [q["sql"] for q in captured.captured_queries if f'FROM "{table}"' in q["sql"]]


@pytest.fixture
def signed_in(analyst):
    client = Client()
    client.force_login(analyst)
    return client, analyst


# --- in this process -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cached_session_user_costs_no_users_query(signed_in):
    client, analyst = signed_in
    assert client.get(ME).status_code == 200  # loads and caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["email"] == analyst.email
    assert _user_queries(captured) == []


def _redis_calls() -> dict[str, int]:
    from django.core.cache import cache

    stats = cache._cache.get_client(write=True).info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


def _calls_of_one_request(client: Client) -> dict[str, int]:
    before = _redis_calls()
    assert client.get(ME).status_code == 200
    after = _redis_calls()
    return {name: after.get(name, 0) - before.get(name, 0) for name in ("get", "mget")}


@pytest.mark.django_db
def test_the_epoch_comes_with_the_session(signed_in):
    """Once this process has seen the session's user, the session engine reads the user's epoch
    in the session's own MGET (apps/users/sessions.py, which also reads the configuration version
    there): one command where a session it has not seen costs a GET more (the epoch's)."""
    client, _ = signed_in
    for _ in range(2):
        assert client.get(ME).status_code == 200
    seen = _calls_of_one_request(client)
    session_user._session_users.clear()  # this process forgets which user the session had
    unseen = _calls_of_one_request(client)
    assert (seen["mget"], unseen["mget"]) == (1, 1)
    assert unseen["get"] - seen["get"] == 1


@pytest.mark.django_db
def test_without_the_cache_the_user_is_loaded_each_time(signed_in, settings):
    settings.AMAS_SESSION_USER_CACHE_SECONDS = 0
    session_user.entries_clear()
    client, _ = signed_in
    assert client.get(ME).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(ME).status_code == 200
    assert len(_user_queries(captured)) == 1


@pytest.mark.django_db
def test_password_change_ends_the_session(signed_in):
    client, analyst = signed_in
    assert client.get(ME).status_code == 200
    analyst.set_password("another-horse-battery")
    analyst.save()
    assert client.get(ME).status_code == 401
    assert client.get(ME).status_code == 401  # Django flushed the session


@pytest.mark.django_db
def test_deactivation_signs_out(signed_in):
    client, analyst = signed_in
    assert client.get(ME).status_code == 200
    analyst.is_active = False
    analyst.save(update_fields=["is_active"])
    assert client.get(ME).status_code == 401


@pytest.mark.django_db
def test_role_and_organisation_changes_are_seen_at_once(signed_in):
    client, analyst = signed_in
    assert client.get(ME).json()["role"] == Role.ANALYST
    analyst.role = Role.VIEWER
    analyst.save(update_fields=["role"])
    assert client.get(ME).json()["role"] == Role.VIEWER
    other = organization_get_or_create(name="Elsewhere Ltd")
    analyst.organization = other
    analyst.save(update_fields=["organization"])
    assert client.get(ME).json()["organization"] == "Elsewhere Ltd"


@pytest.mark.django_db
def test_a_viewer_made_by_role_change_cannot_create_tasks(signed_in):
    client, analyst = signed_in
    csrf = {"HTTP_X_CSRFTOKEN": "x"}  # enforce_csrf_checks is off in the test client
    assert client.get(ME).status_code == 200
    analyst.role = Role.VIEWER
    analyst.save(update_fields=["role"])
    response = client.post(
        "/api/v1/tasks", {"title": "t", "task_type": "custom"}, content_type="application/json", **csrf
    )
    assert response.status_code == 403, response.content


@pytest.mark.django_db
def test_deleted_user_is_signed_out(user_factory):
    doomed = user_factory()
    client = Client()
    client.force_login(doomed)
    assert client.get(ME).status_code == 200
    doomed.delete()
    assert client.get(ME).status_code == 401


@pytest.mark.django_db
def test_a_session_whose_hash_differs_is_not_answered_from_the_cache(signed_in):
    """Another session of the same user carrying a wrong auth hash: Django's check flushes it,
    although the user is cached from the good session."""
    client, analyst = signed_in
    assert client.get(ME).status_code == 200
    forged = Client()
    forged.force_login(analyst)
    session = forged.session
    session[HASH_SESSION_KEY] = "0" * 64
    session.save()
    assert forged.get(ME).status_code == 401
    assert client.get(ME).status_code == 200


@pytest.mark.django_db
def test_a_sign_in_keeps_the_entry(signed_in):
    """A sign-in saves only last_login: the user's other sessions stay cached."""
    client, analyst = signed_in
    assert client.get(ME).status_code == 200
    Client().force_login(analyst)  # update_last_login: save(update_fields=["last_login"])
    with CaptureQueriesContext(connection) as captured:
        assert client.get(ME).status_code == 200
    assert _user_queries(captured) == []


def _mfa_queries(captured: CaptureQueriesContext) -> list[str]:
    table = Authenticator._meta.db_table
    return [q["sql"] for q in captured.captured_queries if f'FROM "{table}"' in q["sql"]]


@pytest.fixture
def admin_signed_in(user_factory):
    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_an_admins_second_factor_is_cached_with_the_user(admin_signed_in):
    """An admin must use MFA: whether they have a second factor comes with the cached user
    (before, the MFA middleware and the session authentication each asked the database)."""
    client, _ = admin_signed_in
    assert client.get(ME).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(ME).status_code == 200
    assert _mfa_queries(captured) == []


@pytest.mark.django_db
def test_removing_an_admins_second_factor_holds_at_once(admin_signed_in):
    client, admin = admin_signed_in
    assert client.get(ME).status_code == 200
    Authenticator.objects.filter(user=admin).delete()
    response = client.get(ME)
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"


@pytest.mark.django_db
def test_setting_up_mfa_lets_the_admin_in_at_once(user_factory):
    admin = user_factory(role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    assert client.get(ME).status_code == 403  # cached: no second factor
    enable_totp(admin)
    assert client.get(ME).status_code == 200


# --- in another process --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """A daphne process serving AMAS on the test database and Redis."""
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne_serving([sys.executable, "-m", "daphne", "amas.asgi:application"], log_path=log_path) as url:
        yield url


def _get(url: str, cookie: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _warm(url: str, cookie: str) -> dict:
    """Two answers, so the server has the user cached (the second one comes from its cache)."""
    for _ in range(2):
        status, body = _get(url, cookie)
        assert status == 200, body
    return body


@pytest.mark.django_db(transaction=True)
def test_changes_hold_in_another_process(server_url, user_factory):
    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    member = user_factory(role=Role.ANALYST, org=admin.organization)
    me = f"{server_url}{ME}"

    cookie = _session_cookie(member)
    assert _warm(me, cookie)["role"] == Role.ANALYST
    member_set_role(member=member, role=Role.VIEWER, by=admin)
    assert _get(me, cookie)[1]["role"] == Role.VIEWER

    member.refresh_from_db()
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert _get(me, cookie)[0] == 401

    member.is_active = True
    member.save(update_fields=["is_active"])
    cookie = _session_cookie(member)
    _warm(me, cookie)
    member.set_password("another-horse-battery")
    member.save()
    assert _get(me, cookie)[0] == 401


@pytest.mark.django_db(transaction=True)
def test_a_second_factor_removed_holds_in_another_process(server_url, user_factory):
    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)
    me = f"{server_url}{ME}"
    cookie = _session_cookie(admin)
    _warm(me, cookie)
    Authenticator.objects.filter(user=admin).delete()
    status, body = _get(me, cookie)
    assert (status, body.get("code")) == (403, "mfa_required")
    enable_totp(admin)
    assert _get(me, cookie)[0] == 200
