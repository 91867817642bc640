"""X-Forwarded-For is believed only from trusted proxies: a stranger who sends
`X-Forwarded-For: 127.0.0.1` is still a stranger to /metrics, /health/services, the audit log and
the sign-in limits; through a configured proxy the real client address is used."""

import uuid
from http import HTTPStatus

import pytest
from django.test import Client, override_settings

from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

STRANGER = "203.0.113.9"
PROXY = "10.9.0.2"


@pytest.mark.parametrize("path", ["/metrics", "/health/services"])
def test_spoofed_loopback_from_an_untrusted_peer_is_refused(path):
    spoofed = Client(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.get(path).status_code == HTTPStatus.UNAUTHORIZED


@override_settings(AMAS_PROXY_COUNT=1)
def test_proxy_count_is_ignored_when_networks_say_the_peer_is_not_a_proxy():
    with override_settings(AMAS_TRUSTED_PROXIES=["10.9.0.0/24"]):
        spoofed = Client(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="127.0.0.1")
        assert spoofed.get("/metrics").status_code == HTTPStatus.UNAUTHORIZED


@override_settings(AMAS_TRUSTED_PROXIES=["10.9.0.0/24"])
def test_trusted_proxy_passes_on_the_real_client_not_the_spoofed_entry():
    # The attacker writes 127.0.0.1; the proxy appends the address it really saw.
    through_proxy = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"127.0.0.1, {STRANGER}")
    assert through_proxy.get("/metrics").status_code == HTTPStatus.UNAUTHORIZED
    # A client on loopback behind the same proxy is the proxy's to vouch for.
    local = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert local.get("/metrics").status_code == HTTPStatus.OK


@override_settings(AMAS_TRUSTED_PROXIES=["10.9.0.0/24"])
def test_chained_trusted_proxies_are_skipped():
    chain = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"127.0.0.1, {STRANGER}, 10.9.0.7")
    assert chain.get("/metrics").status_code == HTTPStatus.UNAUTHORIZED


def test_audit_records_the_peer_not_the_header(analyst):
    Client(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="192.0.2.77").post(
        "/accounts/login/", {"login": analyst.email, "password": "nope"}
    )
    failed = AuditEvent.objects.get(event_type="auth.login_failed", entity_id=str(analyst.pk))
    assert failed.ip == STRANGER


@override_settings(AMAS_TRUSTED_PROXIES=["10.9.0.0/24"])
def test_audit_records_the_client_a_trusted_proxy_reports(analyst):
    Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {STRANGER}").post(
        "/accounts/login/", {"login": analyst.email, "password": "nope"}
    )
    failed = AuditEvent.objects.get(event_type="auth.login_failed", entity_id=str(analyst.pk))
    assert failed.ip == STRANGER


@override_settings(ACCOUNT_RATE_LIMITS={"login_failed": "3/m/ip"})
def test_rotating_the_header_does_not_reset_the_per_address_sign_in_limit(user_factory):
    peer = f"203.0.113.{uuid.uuid4().int % 200 + 20}"  # its own counter, whatever ran before
    limited = []
    for attempt in range(5):
        user = user_factory()  # a different account each time: only the address limit applies
        client = Client(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt + 1}")
        response = client.post("/accounts/login/", {"login": user.email, "password": "nope"})
        limited.append(response.status_code == HTTPStatus.TOO_MANY_REQUESTS)
    assert limited == [False, False, False, True, True]
