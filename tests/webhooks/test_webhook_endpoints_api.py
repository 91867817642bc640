"""Managing endpoints through /api/v1/webhooks: org admins only, validated, secret shown once,
and no private targets unless the egress allowlist names them (SSRF)."""

from http import HTTPStatus

import pytest
from django.test import override_settings

from apps.users.services import token_create
from apps.webhooks.models import WebhookEndpoint
from tests.webhooks.conftest import SECRET, create_endpoint

pytestmark = pytest.mark.django_db


def test_analysts_cannot_manage_webhooks(client, analyst):
    issued = token_create(user=analyst, name="cli", scopes=["tasks:read"])
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {issued.secret}"
    response = client.get("/api/v1/webhooks/endpoints")
    assert response.status_code == HTTPStatus.FORBIDDEN
    response = client.post(
        "/api/v1/webhooks/endpoints",
        {"name": "x", "url": "https://example.org/h", "event_types": ["*"]},
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_admin_creates_endpoint_and_sees_the_secret_once(admin_api):
    response = admin_api.post(
        "/api/v1/webhooks/endpoints",
        {"name": "siem", "url": "http://127.0.0.1:9/hook", "event_types": ["task.completed", "step.*"]},
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    listed = admin_api.get("/api/v1/webhooks/endpoints").json()
    assert [e["name"] for e in listed] == ["siem"]
    assert "secret" not in listed[0]
    stored = WebhookEndpoint.objects.get(pk=created["id"])
    assert stored.secret == created["secret"]  # decrypted by the field
    rotated = admin_api.post(f"/api/v1/webhooks/endpoints/{created['id']}/rotate-secret").json()
    assert rotated["secret"] != created["secret"]


def test_unknown_event_types_are_refused(admin_api):
    response = admin_api.post(
        "/api/v1/webhooks/endpoints",
        {"name": "bad", "url": "http://127.0.0.1:9/hook", "event_types": ["task.exploded"]},
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "task.exploded" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://localhost:8000/hook",
    ],
)
def test_private_targets_are_refused_unless_allowlisted(admin_api, url):
    with override_settings(AMAS_EGRESS_ALLOWLIST=[]):
        response = admin_api.post(
            "/api/v1/webhooks/endpoints",
            {"name": "internal", "url": url, "event_types": ["*"], "secret": SECRET},
            content_type="application/json",
        )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, response.content
    assert "Refused" in response.json()["detail"]
    assert not WebhookEndpoint.objects.exists()


@override_settings(AMAS_WEBHOOK_REQUIRE_HTTPS=True)
def test_https_is_required_by_default(admin_api):
    response = admin_api.post(
        "/api/v1/webhooks/endpoints",
        {"name": "plain", "url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "https" in response.json()["detail"]


def test_reenabling_clears_the_failure_streak(admin_api):
    endpoint = create_endpoint(admin_api, "http://127.0.0.1:9/hook", ["*"])
    WebhookEndpoint.objects.filter(pk=endpoint["id"]).update(
        active=False, consecutive_failures=30, disabled_reason="30 consecutive failed attempts."
    )
    response = admin_api.patch(
        f"/api/v1/webhooks/endpoints/{endpoint['id']}", {"active": True}, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.OK, response.content
    body = response.json()
    assert body["active"] is True and body["consecutive_failures"] == 0 and body["disabled_reason"] == ""
