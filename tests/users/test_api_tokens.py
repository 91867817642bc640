import hashlib
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.users.models import ApiToken, Role
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db


def _create(client, **body):
    body.setdefault("name", "ci")
    body.setdefault("scopes", ["tasks:read"])
    return client.post("/api/v1/tokens", body, content_type="application/json")


def _bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_token_is_shown_once_and_stored_hashed(analyst):
    client = login(Client(), analyst)
    response = _create(client, scopes=["tasks:read", "tasks:write"])
    assert response.status_code == HTTPStatus.CREATED, response.content
    body = response.json()
    secret = body["token"]
    assert secret.startswith(f"amas_{body['prefix']}_") and len(secret) > 50
    row = ApiToken.objects.get(pk=body["id"])
    assert row.hashed_secret == hashlib.sha256(secret.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM users_apitoken WHERE id = %s", [row.pk])
        assert secret not in repr(cursor.fetchone())
    listed = client.get("/api/v1/tokens").json()
    assert [t["prefix"] for t in listed] == [body["prefix"]]
    assert "token" not in listed[0]
    event = AuditEvent.objects.get(event_type="token.create", entity_id=str(row.pk))
    assert event.actor_id == analyst.pk and event.changes["scopes"] == ["tasks:read", "tasks:write"]
    assert event.trust_score is not None and "auth" in event.trust_factors
    assert secret not in str(event.changes)


def test_bearer_token_authenticates_with_its_scopes(analyst):
    secret = _create(login(Client(), analyst), scopes=["tasks:read"]).json()["token"]
    api = Client()
    me = api.get("/api/v1/me", **_bearer(secret))
    assert me.status_code == HTTPStatus.OK
    assert me.json()["auth"] == "token" and me.json()["scopes"] == ["tasks:read"]
    assert api.get("/api/v1/tasks", **_bearer(secret)).status_code == HTTPStatus.OK
    denied = api.post(
        "/api/v1/tasks",
        {"title": "x", "task_type": "investigation", "target": "example.org"},
        content_type="application/json",
        **_bearer(secret),
    )
    assert denied.status_code == HTTPStatus.FORBIDDEN
    assert "lacks the scope tasks:write" in denied.json()["detail"]
    assert ApiToken.objects.get(user=analyst).last_used_at is not None


def test_scopes_cannot_exceed_the_role(user_factory):
    viewer = user_factory(role=Role.VIEWER)
    client = login(Client(), viewer)
    response = _create(client, scopes=["tasks:read", "tasks:write"])
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "tasks:write" in response.json()["detail"]
    assert _create(client, scopes=["nonsense"]).status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert not ApiToken.objects.filter(user=viewer).exists()


def test_expired_token_is_refused(analyst):
    client = login(Client(), analyst)
    body = _create(client, expires_in_days=1).json()
    assert Client().get("/api/v1/me", **_bearer(body["token"])).status_code == HTTPStatus.OK
    ApiToken.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get("/api/v1/me", **_bearer(body["token"])).status_code == HTTPStatus.UNAUTHORIZED
    assert _create(client, expires_in_days=10_000).status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_revoked_token_is_refused_and_audited(analyst):
    client = login(Client(), analyst)
    body = _create(client).json()
    response = client.delete(f"/api/v1/tokens/{body['id']}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert Client().get("/api/v1/me", **_bearer(body["token"])).status_code == HTTPStatus.UNAUTHORIZED
    assert client.get("/api/v1/tokens").json()[0]["revoked_at"] is not None
    assert AuditEvent.objects.filter(event_type="token.revoke", entity_id=str(body["id"])).exists()


def test_tokens_cannot_mint_tokens(analyst):
    secret = _create(login(Client(), analyst)).json()["token"]
    response = _create(Client(HTTP_AUTHORIZATION=f"Bearer {secret}"))
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_a_wrong_bearer_token_never_falls_back_to_the_session(analyst):
    client = login(Client(), analyst)
    assert client.get("/api/v1/me").json()["auth"] == "session"
    assert client.get("/api/v1/me", **_bearer("amas_00000000_nope")).status_code == HTTPStatus.UNAUTHORIZED


def test_org_admin_revokes_members_tokens_but_not_other_orgs(user_factory, analyst, organization):
    from apps.users.services import organization_get_or_create

    body = _create(login(Client(), analyst)).json()
    other_org_admin = user_factory(role=Role.ADMIN, org=organization_get_or_create(name="Elsewhere"))
    other = login(Client(), other_org_admin, secret=enable_totp(other_org_admin))
    assert other.delete(f"/api/v1/tokens/{body['id']}").status_code == HTTPStatus.NOT_FOUND
    admin = user_factory(role=Role.ADMIN)
    client = login(Client(), admin, secret=enable_totp(admin))
    assert [t["id"] for t in client.get("/api/v1/tokens?all=true").json()] == [body["id"]]
    assert client.delete(f"/api/v1/tokens/{body['id']}").status_code == HTTPStatus.NO_CONTENT
    assert ApiToken.objects.get(pk=body["id"]).revoked_at is not None


def test_session_writes_need_csrf_but_bearer_requests_do_not(analyst):
    client = login(Client(enforce_csrf_checks=True), analyst)
    assert _create(client).status_code == HTTPStatus.FORBIDDEN
    client.get("/accounts/login/")  # any page with a form sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/tokens",
        {"name": "ci", "scopes": ["tasks:read"]},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == HTTPStatus.CREATED
    bearer = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    assert bearer.delete(f"/api/v1/tokens/{response.json()['id']}").status_code == HTTPStatus.NO_CONTENT
