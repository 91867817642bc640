"""Bearer-token API requests take a middleware chain without the browser-only middleware
(settings.MIDDLEWARE without settings.BROWSER_ONLY_MIDDLEWARE, built and picked in amas/asgi.py).
Driven through amas.asgi.application in-process, as daphne serves it: the token alone decides who
asks (a wrong token is a 401 even beside a valid session; a user who lacks required MFA is
refused), the response keeps its hardening headers and sets no cookies, and browser requests
still get sessions and CSRF; middleware added to MIDDLEWARE after settings load (OpenTelemetry's)
is in the bearer chain too (tests/ops/test_tracing.py traces a token POST)."""

import asyncio
import json
from http import HTTPStatus

import pytest
from django.conf import settings
from django.test import Client

from amas.asgi import application
from apps.audit.models import AuditEvent
from apps.users.models import Role
from apps.users.services import token_create
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db(transaction=True)


def _asgi(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def call() -> None:
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await application(scope, receive, send)

    asyncio.run(call())
    start = sent[0]
    response_headers: dict = {}
    for name, value in start["headers"]:
        response_headers.setdefault(name.decode().lower(), []).append(value.decode())
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


def _session_cookie(user) -> str:
    client = login(Client(), user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_a_token_request_is_answered_as_the_token_user_with_hardening_headers_and_no_cookies(user_factory):
    analyst = user_factory(role=Role.ANALYST)
    secret = token_create(user=analyst, name="cli", scopes=["tasks:read", "tasks:write"]).secret
    status, headers, body = _asgi("GET", "/api/v1/me", {"Authorization": f"Bearer {secret}"})
    assert status == HTTPStatus.OK, body
    assert json.loads(body)["email"] == analyst.email
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert "content-security-policy" in headers and "x-request-id" in headers
    assert headers["content-length"] == [str(len(body))]
    assert "set-cookie" not in headers  # no session, CSRF or device cookie for a token client


def test_a_token_write_is_audited_with_its_request_id(user_factory):
    analyst = user_factory(role=Role.ANALYST)
    secret = token_create(user=analyst, name="cli", scopes=["tasks:read", "tasks:write"]).secret
    payload = json.dumps({"title": "t", "task_type": "custom", "agents": ["osint"]}).encode()
    status, headers, body = _asgi(
        "POST",
        "/api/v1/tasks",
        {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        payload,
    )
    assert status == HTTPStatus.CREATED, body
    task_id = json.loads(body)["id"]
    row = AuditEvent.objects.get(entity_type="task", entity_id=task_id)
    assert row.request_id == headers["x-request-id"][0]
    assert row.actor_id == analyst.pk


def test_a_wrong_token_beside_a_valid_session_is_refused(user_factory):
    analyst = user_factory(role=Role.ANALYST)
    status, _, body = _asgi(
        "GET", "/api/v1/me", {"Authorization": "Bearer not-a-token", "Cookie": _session_cookie(analyst)}
    )
    assert status == HTTPStatus.UNAUTHORIZED, body


def test_a_token_of_a_user_who_lacks_required_mfa_is_refused(user_factory):
    admin = user_factory(role=Role.ADMIN)  # admins must use MFA; this one has none
    secret = token_create(user=admin, name="cli", scopes=["tasks:read"]).secret
    status, _, body = _asgi("GET", "/api/v1/me", {"Authorization": f"Bearer {secret}"})
    assert status == HTTPStatus.UNAUTHORIZED, body
    enable_totp(admin)
    status, _, body = _asgi("GET", "/api/v1/me", {"Authorization": f"Bearer {secret}"})
    assert status == HTTPStatus.OK, body


def test_a_session_request_with_another_authorization_scheme_keeps_the_session_and_csrf(user_factory):
    analyst = user_factory(role=Role.ANALYST)
    headers = {"Authorization": "Basic cHJveHk6cGFzcw==", "Cookie": _session_cookie(analyst)}
    status, _, body = _asgi("GET", "/api/v1/me", headers)
    assert status == HTTPStatus.OK, body
    assert json.loads(body)["email"] == analyst.email
    payload = json.dumps({"title": "t", "task_type": "custom", "agents": ["osint"]}).encode()
    status, _, body = _asgi("POST", "/api/v1/tasks", {**headers, "Content-Type": "application/json"}, payload)
    assert status == HTTPStatus.FORBIDDEN and b"CSRF" in body


def test_the_token_alone_decides_beside_a_session_of_another_user(user_factory):
    """The session of an admin who has not set up MFA would be sent to set it up; a bearer
    request is its token's, so the session (and its MFA redirect) is not consulted at all."""
    admin = user_factory(role=Role.ADMIN)
    analyst = user_factory(role=Role.ANALYST, org=admin.organization)
    secret = token_create(user=analyst, name="cli", scopes=["tasks:read"]).secret
    headers = {"Authorization": f"Bearer {secret}", "Cookie": _session_cookie(admin)}
    status, _, body = _asgi("GET", "/api/v1/me", headers)
    assert status == HTTPStatus.OK, body
    assert json.loads(body)["email"] == analyst.email
