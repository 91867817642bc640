"""The Members page's row buttons (apps/dashboard/views/members.py): an admin changes a role,
deactivates and reactivates a member, resends and revokes an invitation, each answered on the page
it redirects to; another organisation's member or invitation is "not found" there and unchanged;
a non-admin is refused and a GET is not a way to act."""

from http import HTTPStatus

import pytest
from django.test import Client

from apps.users.invitations import invitation_create
from apps.users.models import Invitation, Role, User
from apps.users.services import organization_get_or_create
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(user_factory):
    admin = user_factory(role=Role.ADMIN)
    admin.totp = enable_totp(admin)  # admins sign in with their second factor
    return admin


@pytest.fixture
def browser(admin):
    return login(Client(), admin, secret=admin.totp)


def _says(response, text: str) -> bool:
    assert response.status_code == HTTPStatus.OK and response.redirect_chain[-1][0] == "/members/"
    return text in response.content.decode()


def test_an_admin_acts_on_a_member_from_the_page(browser, admin, user_factory):
    member = user_factory(role=Role.VIEWER, org=admin.organization)
    assert _says(
        browser.post(f"/members/{member.pk}/role/", {"role": "analyst"}, follow=True), "is now analyst"
    )
    assert User.objects.get(pk=member.pk).role == Role.ANALYST

    gone = browser.post(f"/members/{member.pk}/deactivate/", follow=True)
    assert _says(gone, f"{member.email} is deactivated")
    assert not User.objects.get(pk=member.pk).is_active
    back = browser.post(f"/members/{member.pk}/reactivate/", follow=True)
    assert _says(back, f"{member.email} can sign in again")
    assert User.objects.get(pk=member.pk).is_active

    refused = browser.post(f"/members/{member.pk}/role/", {"role": "boss"}, follow=True)
    assert _says(refused, "Unknown role")  # the service's refusal, said on the page
    assert User.objects.get(pk=member.pk).role == Role.ANALYST


def test_an_admin_resends_and_revokes_an_invitation(browser, admin):
    invitation = invitation_create(by=admin, email="later@example.org", role="viewer").invitation
    first_hash = invitation.token_hash
    resent = browser.post(f"/members/invitations/{invitation.pk}/resend/", follow=True)
    assert _says(resent, "A new link was sent to later@example.org")
    assert Invitation.objects.get(pk=invitation.pk).token_hash != first_hash
    revoked = browser.post(f"/members/invitations/{invitation.pk}/revoke/", follow=True)
    assert _says(revoked, "The invitation of later@example.org is revoked.")
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


def test_another_organisations_rows_are_not_found(browser, user_factory):
    elsewhere = organization_get_or_create(name="Elsewhere")
    outsider = user_factory(role=Role.VIEWER, org=elsewhere)
    their_admin = user_factory(role=Role.ADMIN, org=elsewhere)
    theirs = invitation_create(by=their_admin, email="theirs@example.org", role="viewer").invitation

    assert _says(browser.post(f"/members/{outsider.pk}/deactivate/", follow=True), "No such member.")
    assert _says(
        browser.post(f"/members/{outsider.pk}/role/", {"role": "admin"}, follow=True), "No such member."
    )
    assert User.objects.get(pk=outsider.pk).is_active and User.objects.get(pk=outsider.pk).role == Role.VIEWER
    revoke = browser.post(f"/members/invitations/{theirs.pk}/revoke/", follow=True)
    assert _says(revoke, "No such invitation.")
    assert Invitation.objects.get(pk=theirs.pk).revoked_at is None


def test_a_non_admin_is_refused_and_get_does_not_act(browser, admin, user_factory):
    member = user_factory(role=Role.VIEWER, org=admin.organization)
    analyst = user_factory(role=Role.ANALYST, org=admin.organization)
    refused = login(Client(), analyst).post(f"/members/{member.pk}/deactivate/")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert browser.get(f"/members/{member.pk}/deactivate/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert User.objects.get(pk=member.pk).is_active
