"""What gets recorded: sign-ins, failures, MFA changes, admin actions and model changes, with the
request's address, agent and trust; and the admin-only page and export."""

import json
import time
from http import HTTPStatus

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client

from apps.audit.models import AuditEvent
from apps.users.models import Role
from apps.users.services import organization_get_or_create
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db


def test_sign_in_success_and_failure_are_recorded(analyst):
    Client(REMOTE_ADDR="192.0.2.10").post("/accounts/login/", {"login": analyst.email, "password": "nope"})
    failed = AuditEvent.objects.get(event_type="auth.login_failed", entity_id=str(analyst.pk))
    assert failed.ip == "192.0.2.10" and failed.changes["identifier"] == analyst.email
    assert "nope" not in json.dumps(failed.changes)
    assert failed.organization_id == analyst.organization_id

    login(Client(HTTP_USER_AGENT="pytest-browser/1.0"), analyst)
    ok = AuditEvent.objects.get(event_type="auth.login", actor=analyst)
    assert ok.user_agent == "pytest-browser/1.0" and ok.request_id
    assert ok.changes["methods"] == ["password"]
    assert ok.trust_score is not None and ok.trust_factors["device"] == "unknown"  # first sign-in


def test_mfa_changes_are_recorded(user_factory, django_capture_on_commit_callbacks):
    admin = user_factory(role=Role.ADMIN)
    client = Client()
    client.get("/accounts/login/")
    client.post("/accounts/login/", {"login": admin.email, "password": "correct-horse-battery"})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == HTTPStatus.OK
    secret = client.session["mfa.totp.secret"]
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals after commit
        response = client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert response.status_code == HTTPStatus.FOUND
    added = AuditEvent.objects.filter(event_type="mfa.added", actor=admin)
    assert sorted(e.changes["type"] for e in added) == ["recovery_codes", "totp"]


def test_admin_actions_and_role_changes_are_recorded(user_factory, analyst):
    superuser = user_factory(role=Role.ADMIN)
    superuser.is_staff = superuser.is_superuser = True
    superuser.save(update_fields=["is_staff", "is_superuser"])
    client = login(Client(), superuser, secret=enable_totp(superuser))
    response = client.post(
        f"/admin/users/user/{analyst.pk}/change/",
        {
            "email": analyst.email,
            "full_name": "",
            "organization": analyst.organization_id,
            "role": Role.VIEWER,
            "is_active": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    change = AuditEvent.objects.get(event_type="user.update", entity_id=str(analyst.pk))
    assert change.actor_id == superuser.pk
    assert change.changes["before"] == {"role": "analyst"} and change.changes["after"] == {"role": "viewer"}
    admin_event = AuditEvent.objects.get(event_type="admin.change", entity_id=str(analyst.pk))
    assert admin_event.entity_type == "users.user" and "Role" in admin_event.changes["message"]


def test_audit_page_is_for_org_admins_and_shows_only_their_org(user_factory, analyst):
    admin = user_factory(role=Role.ADMIN)
    other_admin = user_factory(role=Role.ADMIN, org=organization_get_or_create(name="Other Org"))
    login(Client(), analyst)
    assert login(Client(), analyst).get("/audit/").status_code == HTTPStatus.FORBIDDEN

    client = login(Client(), admin, secret=enable_totp(admin))
    page = client.get("/audit/", {"event_type": "auth.login", "actor": analyst.email})
    assert page.status_code == HTTPStatus.OK
    assert analyst.email.encode() in page.content

    other = login(Client(), other_admin, secret=enable_totp(other_admin))
    assert analyst.email.encode() not in other.get("/audit/", {"event_type": "auth.login"}).content


def test_export_streams_json_lines_in_chain_order(user_factory, analyst):
    admin = user_factory(role=Role.ADMIN)
    client = login(Client(), admin, secret=enable_totp(admin))
    response = client.get("/audit/export.jsonl")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/x-ndjson"
    with pytest.warns(Warning, match="asynchronous iterators"):  # streamed async under daphne
        body = b"".join(response)
    rows = [json.loads(line) for line in body.decode().splitlines()]
    assert rows and {r["organization_id"] for r in rows} == {admin.organization_id}
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    assert AuditEvent.objects.filter(event_type="audit.export", actor=admin).exists()


def test_export_from_an_unfamiliar_client_steps_up_first(user_factory):
    admin = user_factory(role=Role.ADMIN)
    client = login(Client(), admin, secret=enable_totp(admin))
    client.cookies.pop("amas_device")
    response = client.get("/audit/export.jsonl", REMOTE_ADDR="198.51.100.1")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/")


def test_provider_changes_are_recorded_without_their_secrets(user_factory, rf):
    from apps.audit.context import current_request
    from apps.providers.models import Provider

    admin = user_factory(role=Role.ADMIN)
    request = rf.post("/admin/providers/provider/add/", REMOTE_ADDR="192.0.2.44")
    request.user = admin
    token = current_request.set(request)  # as AuditRequestMiddleware does for a real request
    try:
        provider = Provider.objects.create(name="Vendor X", kind="openai", api_key="sk-created-secret-1")
        provider.api_key = "sk-rotated-secret-2"
        provider.priority = 5
        provider.save()
        provider.last_health_ok = True
        provider.save(update_fields=["last_health_ok"])  # bookkeeping: not recorded
    finally:
        current_request.reset(token)
    events = list(
        AuditEvent.objects.filter(entity_type="providers.provider", entity_id=str(provider.pk)).order_by(
            "seq"
        )
    )
    assert [e.event_type for e in events] == ["provider.create", "provider.update"]
    created, updated = events
    assert created.actor_id == admin.pk and created.ip == "192.0.2.44"
    assert created.changes["after"]["name"] == "Vendor X" and created.changes["encrypted_fields_set"] == [
        "api_key"
    ]
    assert updated.changes["before"] == {"priority": 100} and updated.changes["after"] == {"priority": 5}
    assert updated.changes["encrypted_fields_changed"] == ["api_key"]
    assert "sk-" not in json.dumps([e.changes for e in events])
