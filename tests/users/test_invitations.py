"""Members without the Django admin: an organisation admin invites by e-mail (Django's mail backend,
read from mail.outbox), the invitee signs up through allauth with sign-up otherwise closed and lands
in the inviting organisation with the invited role; admins list/resend/revoke invitations, change
roles and deactivate members (tokens and sessions end at once); the last admin cannot demote or
deactivate themselves; every change is audited."""

import hashlib
import re
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.users.models import ApiToken, Invitation, Role, User
from apps.users.services import organization_get_or_create, token_create
from tests.users.factories import PASSWORD, enable_totp, login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-fresh-passphrase-42"


@pytest.fixture
def admin(user_factory):
    admin = user_factory(role=Role.ADMIN)
    admin.totp = enable_totp(admin)  # admins must use MFA, also for their tokens
    return admin


def _bearer(user, scopes=None) -> dict:
    from apps.users.permissions import user_scopes

    secret = token_create(user=user, name="t", scopes=sorted(scopes or user_scopes(user))).secret
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _invite(admin, email="new.colleague@example.org", role="analyst", client=None):
    client = client or Client()
    return client.post(
        "/api/v1/invitations",
        {"email": email, "role": role},
        content_type="application/json",
        **_bearer(admin),
    )


def _link_from_outbox(email: str) -> str:
    message = [m for m in mail.outbox if m.to == [email]][-1]
    return re.search(r"https?://\S+", message.body).group(0)


def _sign_up(link: str, email: str, password: str = NEW_PASSWORD) -> tuple[Client, object]:
    """Follow the invitation link and fill allauth's sign-up form like a browser."""
    client = Client()
    parts = urlsplit(link)
    opened = client.get(f"{parts.path}?{parts.query}")
    assert opened.status_code == HTTPStatus.FOUND, opened.content[:300]
    form = client.get(opened["Location"])
    assert form.status_code == HTTPStatus.OK
    response = client.post(
        "/accounts/signup/",
        {"email": email, "password1": password, "password2": password},
    )
    return client, response


# --- invite and accept ---------------------------------------------------------------------------


def test_invite_mails_a_link_whose_token_is_stored_only_hashed(admin):
    response = _invite(admin)
    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    assert body["status"] == "pending" and body["role"] == "analyst" and body["invited_by"] == admin.email
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.colleague@example.org"] and admin.organization.name in message.subject
    link = _link_from_outbox("new.colleague@example.org")
    token = re.search(r"invitation=([\w-]+)", link).group(1)
    assert token not in response.content.decode()
    row = Invitation.objects.get(pk=body["id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM users_invitation WHERE id = %s", [row.pk])
        assert token not in repr(cursor.fetchone())
    assert row.expires_at - row.created_at == timedelta(days=7)
    event = AuditEvent.objects.get(event_type="invitation.create", entity_id=str(row.pk))
    assert event.actor_id == admin.pk and event.organization_id == admin.organization_id
    assert token not in str(event.changes)


def test_invitee_signs_up_with_sign_up_closed_and_joins_with_the_role(admin, settings):
    settings.ACCOUNT_ALLOW_REGISTRATION = False
    closed = Client().get("/accounts/signup/")
    assert b"Sign-up is closed" in closed.content and b"password1" not in closed.content

    _invite(admin, email="viewer.to.be@example.org", role="viewer")
    link = _link_from_outbox("viewer.to.be@example.org")
    client, response = _sign_up(link, "viewer.to.be@example.org")
    assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    user = User.objects.get(email="viewer.to.be@example.org")
    assert user.organization_id == admin.organization_id and user.role == Role.VIEWER
    me = client.get("/api/v1/me").json()  # signed in by the sign-up
    assert me["role"] == "viewer" and me["organization"] == admin.organization.name
    invitation = Invitation.objects.get(email="viewer.to.be@example.org")
    assert invitation.status == "accepted" and invitation.accepted_by_id == user.pk
    assert AuditEvent.objects.filter(event_type="invitation.accept", actor=user).exists()

    # The link is used up: a second sign-up with it is refused, and nothing more is created.
    again = Client().get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert again.status_code == HTTPStatus.OK and b"no longer works" in again.content
    assert User.objects.filter(email__iexact="viewer.to.be@example.org").count() == 1


def test_sign_up_form_shows_the_invitation_and_the_token_leaves_the_address(admin):
    _invite(admin, email="shown@example.org")
    link = _link_from_outbox("shown@example.org")
    client = Client()
    opened = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert "invitation=" not in opened["Location"] and "email=shown%40example.org" in opened["Location"]
    page = client.get(opened["Location"]).content.decode()
    assert admin.organization.name in page and "analyst" in page and 'value="shown@example.org"' in page


def test_only_the_invited_address_can_sign_up(admin):
    _invite(admin, email="invited@example.org")
    link = _link_from_outbox("invited@example.org")
    _client, response = _sign_up(link, "someone.else@example.org")
    assert response.status_code == HTTPStatus.OK
    assert b"This invitation is for invited@example.org" in response.content
    assert not User.objects.filter(email="someone.else@example.org").exists()
    assert Invitation.objects.get(email="invited@example.org").status == "pending"


def test_without_an_invitation_sign_up_posts_are_refused(settings):
    settings.ACCOUNT_ALLOW_REGISTRATION = False
    response = Client().post(
        "/accounts/signup/", {"email": "x@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert b"Sign-up is closed" in response.content
    assert not User.objects.filter(email="x@example.org").exists()
    bogus = Client().get("/accounts/signup/?invitation=not-a-real-token")
    assert b"no longer works" in bogus.content


def test_expired_and_revoked_links_do_not_work(admin):
    _invite(admin, email="late@example.org")
    late = _link_from_outbox("late@example.org")
    Invitation.objects.filter(email="late@example.org").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    _client, response = _sign_up_refused(late)
    assert b"no longer works" in response.content

    created = _invite(admin, email="revoked@example.org").json()
    revoked_link = _link_from_outbox("revoked@example.org")
    response = Client().delete(f"/api/v1/invitations/{created['id']}", **_bearer(admin))
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert Invitation.objects.get(pk=created["id"]).status == "revoked"
    assert b"no longer works" in _sign_up_refused(revoked_link)[1].content
    assert AuditEvent.objects.filter(event_type="invitation.revoke", entity_id=str(created["id"])).exists()


def _sign_up_refused(link):
    client = Client()
    response = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert response.status_code == HTTPStatus.OK
    return client, response


def test_resend_replaces_the_link_and_extends_the_expiry(admin):
    created = _invite(admin, email="again@example.org").json()
    first = _link_from_outbox("again@example.org")
    Invitation.objects.filter(pk=created["id"]).update(expires_at=timezone.now() + timedelta(hours=1))
    response = Client().post(f"/api/v1/invitations/{created['id']}/resend", **_bearer(admin))
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["send_count"] == 2
    second = _link_from_outbox("again@example.org")
    assert second != first and len(mail.outbox) == 2
    assert b"no longer works" in _sign_up_refused(first)[1].content
    _client, signed_up = _sign_up(second, "again@example.org")
    assert signed_up.status_code == HTTPStatus.FOUND
    assert User.objects.get(email="again@example.org").role == Role.ANALYST


def test_list_invitations_with_status_filter(admin):
    pending = _invite(admin, email="p@example.org").json()
    gone = _invite(admin, email="r@example.org").json()
    Client().delete(f"/api/v1/invitations/{gone['id']}", **_bearer(admin))
    listed = Client().get("/api/v1/invitations", **_bearer(admin)).json()
    assert {i["email"] for i in listed} == {"p@example.org", "r@example.org"}
    only = Client().get("/api/v1/invitations?status=pending", **_bearer(admin)).json()
    assert [i["id"] for i in only] == [pending["id"]]
    bad = Client().get("/api/v1/invitations?status=someday", **_bearer(admin))
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "status" in bad.json()["detail"]


# --- bad input and conflicts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "role": "analyst"}, "email"),
        ({"email": "ok@example.org", "role": "owner"}, "role"),
        ({"role": "analyst"}, "email"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(admin, body, field):
    response = Client().post("/api/v1/invitations", body, content_type="application/json", **_bearer(admin))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, response.content
    payload = response.json()
    assert payload.get("field") == field or field in payload["detail"]
    assert not mail.outbox


def test_existing_account_and_open_invitation_are_conflicts(admin, analyst):
    taken = _invite(admin, email=analyst.email.upper())
    assert (
        taken.status_code == HTTPStatus.CONFLICT and "already has an AMAS account" in taken.json()["detail"]
    )
    assert _invite(admin, email="twice@example.org").status_code == HTTPStatus.CREATED
    twice = _invite(admin, email="twice@example.org")
    assert twice.status_code == HTTPStatus.CONFLICT and "resend or revoke" in twice.json()["detail"]
    # An expired invitation does not block a new one.
    Invitation.objects.filter(email="twice@example.org").update(expires_at=timezone.now())
    assert _invite(admin, email="twice@example.org").status_code == HTTPStatus.CREATED


def test_non_admins_cannot_invite_and_other_orgs_see_nothing(admin, user_factory):
    analyst = user_factory(role=Role.ANALYST, org=admin.organization)
    assert _invite(analyst).status_code == HTTPStatus.FORBIDDEN
    created = _invite(admin).json()
    other = user_factory(role=Role.ADMIN, org=organization_get_or_create(name="Other org"))
    enable_totp(other)
    assert Client().get(f"/api/v1/invitations/{created['id']}", **_bearer(other)).status_code == 404
    assert Client().delete(f"/api/v1/invitations/{created['id']}", **_bearer(other)).status_code == 404
    assert Client().get("/api/v1/invitations", **_bearer(other)).json() == []
    # An admin's token without the admin scope is refused like a non-admin.
    limited = _bearer(admin, scopes=["tasks:read"])
    assert Client().get("/api/v1/invitations", **limited).status_code == HTTPStatus.FORBIDDEN


# --- roles, deactivation, the last admin ---------------------------------------------------------


def test_change_role_is_audited(admin, user_factory):
    member = user_factory(role=Role.VIEWER, org=admin.organization)
    response = Client().patch(
        f"/api/v1/members/{member.pk}", {"role": "analyst"}, content_type="application/json", **_bearer(admin)
    )
    assert response.status_code == HTTPStatus.OK and response.json()["role"] == "analyst"
    member.refresh_from_db()
    assert member.role == Role.ANALYST
    event = AuditEvent.objects.get(event_type="member.role", entity_id=str(member.pk))
    assert event.actor_id == admin.pk and event.changes["role"] == ["viewer", "analyst"]
    bad = Client().patch(
        f"/api/v1/members/{member.pk}", {"role": "boss"}, content_type="application/json", **_bearer(admin)
    )
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and bad.json()["detail"].endswith(".role")


def test_the_last_admin_cannot_demote_or_deactivate_themselves(admin, user_factory):
    headers = _bearer(admin)
    demote = Client().patch(
        f"/api/v1/members/{admin.pk}", {"role": "analyst"}, content_type="application/json", **headers
    )
    assert demote.status_code == HTTPStatus.CONFLICT
    assert "last active admin" in demote.json()["detail"]
    leave = Client().post(f"/api/v1/members/{admin.pk}/deactivate", **headers)
    assert leave.status_code == HTTPStatus.CONFLICT and "last active admin" in leave.json()["detail"]
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN and admin.is_active

    # With a second admin, stepping down works.
    second = user_factory(role=Role.ADMIN, org=admin.organization)
    demote = Client().patch(
        f"/api/v1/members/{admin.pk}", {"role": "analyst"}, content_type="application/json", **headers
    )
    assert demote.status_code == HTTPStatus.OK, demote.content
    assert User.objects.get(pk=second.pk).role == Role.ADMIN


def test_deactivation_ends_tokens_and_sessions_at_once(admin, user_factory):
    member = user_factory(role=Role.ANALYST, org=admin.organization)
    token = _bearer(member)
    browser = login(Client(), member)
    assert Client().get("/api/v1/me", **token).status_code == HTTPStatus.OK
    assert browser.get("/api/v1/me").status_code == HTTPStatus.OK
    session_key = browser.cookies["sessionid"].value

    response = Client().post(f"/api/v1/members/{member.pk}/deactivate", **_bearer(admin))
    assert response.status_code == HTTPStatus.OK and response.json()["is_active"] is False

    assert Client().get("/api/v1/me", **token).status_code == HTTPStatus.UNAUTHORIZED
    assert browser.get("/api/v1/me").status_code == HTTPStatus.UNAUTHORIZED
    assert not Session.objects.filter(session_key=session_key).exists()
    assert not ApiToken.objects.filter(user=member, revoked_at__isnull=True).exists()
    event = AuditEvent.objects.get(event_type="member.deactivate", entity_id=str(member.pk))
    assert event.changes["tokens_revoked"] == 1 and event.changes["sessions_ended"] == 1
    # Signing in again is refused too.
    relogin = Client().post("/accounts/login/", {"login": member.email, "password": PASSWORD})
    assert relogin.status_code != HTTPStatus.FOUND or "/accounts/inactive" in relogin["Location"]

    # Re-activation lets them sign in again, but revoked tokens stay revoked.
    back = Client().post(f"/api/v1/members/{member.pk}/reactivate", **_bearer(admin))
    assert back.status_code == HTTPStatus.OK and back.json()["is_active"] is True
    assert Client().get("/api/v1/me", **token).status_code == HTTPStatus.UNAUTHORIZED
    assert login(Client(), member).get("/api/v1/me").status_code == HTTPStatus.OK


def test_members_list_is_org_scoped_and_readable_by_members(admin, user_factory):
    viewer = user_factory(role=Role.VIEWER, org=admin.organization)
    outsider = user_factory(role=Role.ANALYST, org=organization_get_or_create(name="Elsewhere"))
    listed = login(Client(), viewer).get("/api/v1/members").json()
    emails = {m["email"] for m in listed}
    assert {admin.email, viewer.email} <= emails and outsider.email not in emails
    assert Client().get(f"/api/v1/members/{outsider.pk}", **_bearer(admin)).status_code == 404
    denied = login(Client(), viewer).post(f"/api/v1/members/{admin.pk}/deactivate")
    assert denied.status_code == HTTPStatus.FORBIDDEN


# --- the Members page ----------------------------------------------------------------------------


def test_members_page_for_admins_only(admin, user_factory):
    viewer = user_factory(role=Role.VIEWER, org=admin.organization)
    assert login(Client(), viewer).get("/members/").status_code == HTTPStatus.FORBIDDEN
    assert b'href="/members/"' not in login(Client(), viewer).get("/").content
    browser = login(Client(), admin, secret=admin.totp)
    page = browser.get("/members/")
    assert page.status_code == HTTPStatus.OK
    assert viewer.email.encode() in page.content and b'href="/members/"' in page.content
    assert b"<script>" not in page.content  # strict CSP: no inline scripts

    sent = browser.post("/members/invite/", {"email": "page@example.org", "role": "viewer"}, follow=True)
    assert b"Invitation sent to page@example.org" in sent.content
    assert mail.outbox[-1].to == ["page@example.org"]
    assert Invitation.objects.get(email="page@example.org").role == Role.VIEWER
    bad = browser.post("/members/invite/", {"email": "nope", "role": "viewer"}, follow=True)
    assert b"Enter a valid e-mail address." in bad.content

    last = browser.post(f"/members/{admin.pk}/deactivate/", follow=True)
    assert b"last active admin" in last.content
    assert User.objects.get(pk=admin.pk).is_active
    done = browser.post(f"/members/{viewer.pk}/role/", {"role": "analyst"}, follow=True)
    assert b"is now analyst" in done.content
    assert User.objects.get(pk=viewer.pk).role == Role.ANALYST


def test_invitation_revoked_between_link_and_form_creates_nothing(admin):
    created = _invite(admin, email="slow@example.org").json()
    link = _link_from_outbox("slow@example.org")
    client = Client()
    client.get(client.get(urlsplit(link).path + "?" + urlsplit(link).query)["Location"])
    Client().delete(f"/api/v1/invitations/{created['id']}", **_bearer(admin))
    response = client.post(
        "/accounts/signup/",
        {"email": "slow@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert b"Sign-up is closed" in response.content
    assert not User.objects.filter(email="slow@example.org").exists()
