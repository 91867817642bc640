import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from apps.agents.registry import agent_registry
from apps.users.models import Role
from tests.tasks import agents as task_agents

SECRET = "whsec_test_0123456789abcdef"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """The README's verification snippet, verbatim in spirit: what a receiver runs."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, received = parts["t"], parts["v1"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures and answers with the planned
    statuses in order (then `default`)."""

    secret: str = SECRET
    plan: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"received {len(self.received)} requests, expected {count}")
            time.sleep(0.05)
        return self.received


@pytest.fixture
def receiver():
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            signature = self.headers.get("X-AMAS-Signature", "")
            with lock:
                ok = bool(signature) and verify(state.secret, body, signature)
                state.received.append(Received(dict(self.headers.items()), body, ok))
                status = state.plan.pop(0) if state.plan else state.default
            payload = b'{"received": true}' if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/amas"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def webhook_settings():
    """Local receivers: http allowed, 127.0.0.1 allowlisted for egress, quick retries."""
    with override_settings(
        AMAS_WEBHOOK_REQUIRE_HTTPS=False,
        AMAS_EGRESS_ALLOWLIST=["127.0.0.1/32"],
        AMAS_WEBHOOK_BACKOFF_BASE=0.3,
        AMAS_WEBHOOK_BACKOFF_FACTOR=2.0,
        AMAS_WEBHOOK_BACKOFF_JITTER=0.0,
        AMAS_WEBHOOK_TIMEOUT=5.0,
        AMAS_RETRY_BACKOFF_BASE=0.2,
        AMAS_STEP_POLL_SECONDS=0.05,
    ):
        yield


@pytest.fixture(autouse=True)
def test_agents():
    with agent_registry.registered(*task_agents.ALL):
        yield


@pytest.fixture
def org_admin(user_factory):
    from tests.users.factories import enable_totp

    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)  # organisation admins need a second factor, also for their tokens
    return admin


@pytest.fixture
def admin_api(client, org_admin):
    """A client authenticated with the org admin's API token."""
    from apps.users.services import token_create

    issued = token_create(user=org_admin, name="webhooks", scopes=["admin", "tasks:read", "tasks:write"])
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {issued.secret}"
    client.user = org_admin
    return client


def create_endpoint(api, url: str, events: list[str], **extra):
    response = api.post(
        "/api/v1/webhooks/endpoints",
        {"name": extra.pop("name", "receiver"), "url": url, "event_types": events, "secret": SECRET, **extra},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()
