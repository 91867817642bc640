from http import HTTPStatus

import pytest
from django.test import Client, override_settings

from apps.users.models import Role
from tests.users.factories import PASSWORD, login

pytestmark = pytest.mark.django_db


@override_settings(AMAS_API_RATE_LIMIT="3/m")
def test_api_rate_limit_per_user_returns_429_with_retry_after(analyst):
    client = login(Client(), analyst)
    statuses = [client.get("/api/v1/me").status_code for _ in range(4)]
    assert statuses == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    response = client.get("/api/v1/me")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["retry_after"] == int(response["Retry-After"])


def test_api_rate_limit_per_token(analyst, user_factory):
    client = login(Client(), analyst)
    secret = client.post(
        "/api/v1/tokens", {"name": "ci", "scopes": ["tasks:read"]}, content_type="application/json"
    ).json()["token"]
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    with override_settings(AMAS_API_TOKEN_RATE_LIMIT="2/m"):
        assert [bearer.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
        # The user's session has its own allowance: only the token is exhausted.
        assert client.get("/api/v1/me").status_code == HTTPStatus.OK


def test_oversized_api_body_gets_413(analyst):
    client = login(Client(), analyst)
    with override_settings(AMAS_MAX_BODY_BYTES=1000):
        response = client.post(
            "/api/v1/tokens", {"name": "x" * 2000, "scopes": ["tasks:read"]}, content_type="application/json"
        )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert (response.json()["limit"], response.json()["max"]) == ("body_bytes", 1000)
    assert "AMAS_MAX_BODY_BYTES" in response.json()["detail"]


@override_settings(ACCOUNT_RATE_LIMITS={"login_failed": "3/m/ip,3/5m/key"})
def test_password_guessing_is_locked_out(user_factory):
    user = user_factory(role=Role.ANALYST)
    client = Client(REMOTE_ADDR="10.66.0.1")
    client.get("/accounts/login/")
    for _ in range(3):
        response = client.post("/accounts/login/", {"login": user.email, "password": "wrong-guess"})
        assert response.status_code == HTTPStatus.OK  # the form again, with an error
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 1 <= int(response["Retry-After"]) <= 300
    assert b"Too many failed login attempts" in response.content


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/me", "/health", "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_device_cookie_is_signed_and_http_only(client):
    response = client.get("/accounts/login/")
    cookie = response.cookies["amas_device"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert ":" in cookie.value  # value:signature


def test_a_page_may_widen_its_own_policy(rf):
    from django.http import HttpResponse

    from apps.core.security import SecurityHeadersMiddleware, csp_allow

    @csp_allow(style_src="'unsafe-inline'")
    def widget_page(request):
        return HttpResponse("ok")

    response = SecurityHeadersMiddleware(widget_page)(rf.get("/graph/"))
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
