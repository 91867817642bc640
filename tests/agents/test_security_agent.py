"""The Security agent against local HTTPS servers with certificates made here, pages with and
without security headers, and a site leaking its .git and .env."""

import json

import pytest
from django.test import override_settings

from apps.agents.security import SecurityAgent
from tests.agents.runner import relations, run_agent
from tests.agents.servers import (
    Reply,
    dns_server,
    free_closed_port,
    http_server,
    issue,
    server_tls,
    tcp_listener,
)

pytestmark = pytest.mark.django_db

NAMES = ["good", "expired", "selfsigned", "wronghost", "plain", "leaky", "hardened"]
ZONE = "\n".join(f"{name}.example.org. 60 IN A 127.0.0.1" for name in NAMES)

STRICT_HEADERS = [
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=()"),
    ("Set-Cookie", "session=abc123; Path=/; Secure; HttpOnly; SameSite=Lax"),
]


@pytest.fixture
def net():
    with (
        dns_server(ZONE) as (resolver, _),
        override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"], AMAS_EGRESS_RESOLVERS=[resolver]),
    ):
        yield


@pytest.fixture
def pki(tmp_path):
    ca = issue(tmp_path, "ca", common_name="AMAS Test Root", ca=True)
    return {
        "ca": ca,
        "good": issue(tmp_path, "good", common_name="good.example.org", sans=["good.example.org"], issuer=ca),
        "expired": issue(
            tmp_path,
            "expired",
            common_name="expired.example.org",
            sans=["expired.example.org"],
            issuer=ca,
            days_valid=(-60, -2),
        ),
        "selfsigned": issue(
            tmp_path, "selfsigned", common_name="selfsigned.example.org", sans=["selfsigned.example.org"]
        ),
        "wronghost": issue(
            tmp_path,
            "wronghost",
            common_name="other.example.net",
            sans=["other.example.net", "*.example.net"],
            issuer=ca,
            key_type="ec",
        ),
    }


def scan(organization, target, **params):
    return run_agent(SecurityAgent, organization, target=target, task_type="security_scan", params=params)


def https_site(pki, name, headers=()):
    return http_server({"/": Reply.html("<h1>hi</h1>", list(headers))}, tls=server_tls(pki[name]))


def test_a_well_configured_https_site(organization, net, pki):
    with https_site(pki, "good", STRICT_HEADERS) as site:
        url = site.url("/", host="good.example.org")
        result = scan(organization, url, ca_bundle=str(pki["ca"].cert_path))

    tls = result.data["tls"]
    assert (tls["host"], tls["port"], tls["address"]) == ("good.example.org", site.port, "127.0.0.1")
    assert tls["protocol"] == "TLSv1.3"
    assert tls["cipher"]["protocol"] == "TLSv1.3" and tls["cipher"]["bits"] >= 128 and tls["cipher"]["name"]
    assert tls["subject"] == "CN=good.example.org,O=AMAS Tests"
    assert tls["issuer"] == "CN=AMAS Test Root,O=AMAS Tests"
    assert tls["sans"] == ["good.example.org"]
    assert (tls["key_type"], tls["key_size"]) == ("RSA", 2048)
    assert tls["signature_algorithm"] == "sha256WithRSAEncryption"
    assert tls["signature_hash"] == "sha256"
    assert 362 <= tls["days_to_expiry"] <= 365
    assert (tls["expired"], tls["self_signed"], tls["trusted"], tls["hostname_match"]) == (
        False,
        False,
        True,
        True,
    )
    assert tls["verify_error"] is None
    assert [c["subject"] for c in tls["chain"]] == [
        "CN=good.example.org,O=AMAS Tests",
        "CN=AMAS Test Root,O=AMAS Tests",
    ]
    assert len(tls["sha256_fingerprint"]) == 64

    headers = result.data["headers"]
    assert (headers["grade"], headers["score"], headers["reasons"]) == ("A", 100, [])
    assert headers["cookies"] == [{"name": "session", "secure": True, "httponly": True, "samesite": "Lax"}]
    assert set(headers["checks"].values()) == {"pass"}
    assert result.data["http"]["status"] == 200

    assert result.data["authorised"]["allowed"] is False
    assert result.data["exposure"]["skipped"] is True
    assert [f["title"] for f in result.data["findings"]] == ["Active checks skipped"]
    assert (result.data["risk_score"], result.data["risk_level"]) == (0, "incomplete")  # ports unchecked
    assert result.data["coverage"]["reasons"] == ["not_authorised"]
    assert ("domain", "good.example.org", "resolves_to", "ip", "127.0.0.1") in relations(result)
    assert result.summary.startswith(f"{url} (url): risk 0/100 (incomplete); TLS TLSv1.3 certificate trusted")
    assert "security headers grade A (100/100)" in result.summary


def _titles(result, category):
    return {(f["severity"], f["title"]) for f in result.data["findings"] if f["category"] == category}


def test_an_expired_certificate(organization, net, pki):
    with https_site(pki, "expired", STRICT_HEADERS) as site:
        result = scan(
            organization, site.url("/", host="expired.example.org"), ca_bundle=str(pki["ca"].cert_path)
        )
    tls = result.data["tls"]
    assert (tls["expired"], tls["trusted"], tls["hostname_match"]) == (True, False, True)
    assert tls["verify_error"] == "certificate has expired"
    assert tls["days_to_expiry"] < 0
    assert _titles(result, "tls") == {("critical", "Certificate expired")}
    expired = next(f for f in result.data["findings"] if f["title"] == "Certificate expired")
    assert "expired.example.org" in expired["evidence"] and "days ago" in expired["evidence"]
    assert expired["remediation"]
    assert result.data["findings"][0]["severity"] == "critical"  # worst first
    assert result.data["risk_score"] == 40


def test_a_self_signed_certificate(organization, net, pki):
    with https_site(pki, "selfsigned", STRICT_HEADERS) as site:
        result = scan(
            organization, site.url("/", host="selfsigned.example.org"), ca_bundle=str(pki["ca"].cert_path)
        )
    tls = result.data["tls"]
    assert (tls["self_signed"], tls["trusted"], tls["hostname_match"]) == (True, False, True)
    assert tls["verify_error"] == "self-signed certificate"
    assert len(tls["chain"]) == 1
    assert _titles(result, "tls") == {("high", "Self-signed certificate")}


def test_a_certificate_for_another_host(organization, net, pki):
    with https_site(pki, "wronghost", STRICT_HEADERS) as site:
        result = scan(
            organization, site.url("/", host="wronghost.example.org"), ca_bundle=str(pki["ca"].cert_path)
        )
    tls = result.data["tls"]
    assert (tls["trusted"], tls["hostname_match"]) == (True, False)
    assert tls["sans"] == ["other.example.net", "*.example.net"]
    assert (tls["key_type"], tls["curve"]) == ("EC", "secp256r1")
    assert tls["signature_algorithm"] == "sha256WithRSAEncryption"  # signed by the RSA root
    assert _titles(result, "tls") == {("high", "Certificate does not match the host name")}


def test_the_system_trust_store_does_not_know_our_test_root(organization, net, pki):
    with https_site(pki, "good", STRICT_HEADERS) as site:
        result = scan(organization, site.url("/", host="good.example.org"))
    assert result.data["tls"]["trusted"] is False
    assert result.data["tls"]["verify_error"] == "self-signed certificate in certificate chain"
    assert _titles(result, "tls") == {("high", "Untrusted certificate chain")}


def test_a_plain_http_page_without_security_headers(organization, net):
    routes = {
        "/": Reply.html(
            "<p>welcome</p>",
            [
                ("Server", "Apache/2.4.41 (Ubuntu)"),
                ("X-Powered-By", "PHP/7.4.3"),
                ("Set-Cookie", "sid=xyz; Path=/"),
            ],
        )
    }
    with http_server(routes) as site:
        result = scan(organization, site.url("/", host="plain.example.org"))

    headers = result.data["headers"]
    assert headers["grade"] == "F"
    assert headers["score"] == 5
    assert headers["reasons"] == [
        "Served over plain HTTP, so no HSTS (-20)",
        "Missing Content-Security-Policy (-25)",
        "Missing X-Frame-Options and CSP frame-ancestors (-15)",
        "Missing X-Content-Type-Options: nosniff (-10)",
        "Missing or unsafe Referrer-Policy (-10)",
        "Missing Permissions-Policy (-5)",
        "Cookie sid lacks HttpOnly, SameSite (-10 for cookies in all)",
    ]
    assert headers["cookies"] == [{"name": "sid", "secure": False, "httponly": False, "samesite": None}]
    assert "tls" not in result.data
    banners = [f for f in result.data["findings"] if f["title"] == "Server banner discloses a version"]
    assert sorted(f["evidence"].split(": ", 1)[1] for f in banners) == [
        "server: Apache/2.4.41 (Ubuntu)",
        "x-powered-by: PHP/7.4.3",
    ]
    assert all(
        f["severity"] in {"info", "low", "medium", "high", "critical"} for f in result.data["findings"]
    )
    assert all(f["evidence"] and "remediation" in f for f in result.data["findings"])
    assert 0 < result.data["risk_score"] <= 100


def test_a_partly_hardened_page_grades_in_between(organization, net):
    routes = {
        "/": Reply.html(
            "ok",
            [
                ("Content-Security-Policy", "default-src 'self' 'unsafe-inline'"),
                ("X-Frame-Options", "SAMEORIGIN"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
                ("Permissions-Policy", "geolocation=()"),
            ],
        )
    }
    with http_server(routes) as site:
        result = scan(organization, site.url("/", host="hardened.example.org"))
    headers = result.data["headers"]
    assert (headers["grade"], headers["score"]) == ("C", 70)
    assert headers["reasons"] == [
        "Served over plain HTTP, so no HSTS (-20)",
        "Content-Security-Policy allows unsafe-inline/unsafe-eval scripts (-10)",
    ]


LEAKY_ROUTES = {
    "/": Reply.html(
        "<html><head><title>Index of /</title></head><body><a href='a.zip'>a.zip</a></body></html>"
    ),
    "/.git/HEAD": Reply(200, "ref: refs/heads/main\n", [("Content-Type", "text/plain")]),
    "/.env": Reply(
        200,
        "APP_ENV=production\nDB_PASSWORD=s3cr3t-Pa55w0rd!\nexport API_KEY='k9Xq2LmP8vR4tZ7w'\n",
        [("Content-Type", "text/plain")],
    ),
}


def test_exposure_and_port_checks_on_an_authorised_target(organization, net):
    closed = free_closed_port()
    with (
        http_server(LEAKY_ROUTES) as site,
        tcp_listener() as open_port,
        override_settings(AMAS_AUTHORISED_TARGETS=["leaky.example.org"]),
    ):
        result = scan(organization, site.url("/", host="leaky.example.org"), ports=[open_port, closed])

    assert result.data["authorised"] == {
        "allowed": True,
        "reason": "leaky.example.org is within an authorised domain.",
    }
    checked = {c["path"]: c for c in result.data["exposure"]["checked"]}
    assert checked["/.git/HEAD"]["exposed"] is True and checked["/.git/HEAD"]["status"] == 200
    assert checked["/.env"]["exposed"] is True
    exposure = {f["title"]: f for f in result.data["findings"] if f["category"] == "exposure"}
    assert exposure["Git repository exposed"]["severity"] == "critical"
    assert "'ref: refs/heads/main'" in exposure["Git repository exposed"]["evidence"]
    env = exposure["Environment file exposed"]
    assert env["severity"] == "critical"
    assert "3 variables" in env["evidence"]
    assert "DB_PASSWORD=s3" in env["evidence"]
    assert "s3cr3t-Pa55w0rd!" not in json.dumps(result.data)
    assert "k9Xq2LmP8vR4tZ7w" not in json.dumps(result.data)
    assert exposure["Directory listing enabled"]["severity"] == "medium"

    assert result.data["ports"]["checked"] == [
        {"port": open_port, "state": "open"},
        {"port": closed, "state": "closed"},
    ]
    assert result.data["ports"]["open"] == [open_port]
    assert _titles(result, "ports") == {("info", f"Port {open_port} open (service)")}
    assert result.data["risk_level"] == "critical"
    assert f"open ports {open_port}" in result.summary


def test_active_checks_are_refused_on_targets_nobody_authorised(organization, net):
    with http_server(LEAKY_ROUTES) as site, tcp_listener() as open_port:
        result = scan(organization, site.url("/", host="leaky.example.org"), ports=[open_port])
        requested = [s.path for s in site.seen]

    assert requested == ["/"]  # the page itself, nothing probed
    reason = result.data["exposure"]["reason"]
    assert result.data["exposure"] == result.data["ports"] == {"skipped": True, "reason": reason}
    assert "leaky.example.org is not an authorised target" in reason
    skipped = next(f for f in result.data["findings"] if f["title"] == "Active checks skipped")
    assert skipped["severity"] == "info" and skipped["evidence"] == reason
    assert "active checks skipped (not an authorised target)" in result.summary
    # the directory listing of the page itself is seen passively
    assert ("medium", "Directory listing enabled") in _titles(result, "exposure")


def test_a_target_the_egress_policy_refuses(organization):
    result = scan(organization, "http://10.1.2.3/")
    assert "private" in result.data["refused"]
    assert [f["title"] for f in result.data["findings"]] == ["Target not checked"]
    assert "refused by the egress policy" in result.summary


CODE = """import boto3
aws_access_key_id = AKIAZ7Q3N5T2WX4KJH6P
aws_secret_access_key = "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"
password = "changeme"
DATABASE_URL = "postgres://admin:Xk9#pQ2vTr@db.internal:5432/app"
token: ghp_9fK2LmQ8rT4vX7zB1nC5dE3gH6jW0pYsA2uR
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7Qx1
-----END RSA PRIVATE KEY-----
"""
SECRETS = [
    "AKIAZ7Q3N5T2WX4KJH6P",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8rTn2Lk9",
    "Xk9#pQ2vTr",
    "ghp_9fK2LmQ8rT4vX7zB1nC5dE3gH6jW0pYsA2uR",
    "MIIEowIBAAKCAQEA7Qx1",
]


def test_secret_scanning_of_code(organization):
    result = scan(organization, CODE)

    assert result.data["target"]["kind"] == "text"
    found = [(f["rule"], f["severity"], f["line"], f["column"], f["masked"]) for f in result.data["findings"]]
    assert sorted(found, key=lambda f: f[2]) == [
        ("aws_access_key_id", "high", 2, 21, "AKIA************"),
        ("aws_secret_access_key", "critical", 3, 26, "wJal************"),
        ("password_in_url", "high", 5, 34, "Xk********"),
        ("github_token", "high", 6, 8, "ghp_************"),
        ("private_key", "critical", 7, 1, "-----BEGIN RSA PRIVATE KEY-----"),
    ]
    assert result.data["secrets"] == {"sources": ["target"], "found": 5, "dismissed_low_entropy": 1}
    dumped = json.dumps(result.data) + result.summary
    for secret in SECRETS:
        assert secret not in dumped
    aws = next(f for f in result.data["findings"] if f["rule"] == "aws_access_key_id")
    assert aws["evidence"] == "target line 2, column 21: aws_access_key_id = AKIA************"
    assert aws["entropy"] > 3.0
    assert (result.data["risk_score"], result.data["risk_level"]) == (100, "critical")
    assert result.data["findings_by_severity"] == {"critical": 2, "high": 3}


def test_low_entropy_placeholders_are_not_reported(organization):
    result = scan(organization, 'api_key = "xxxxxxxxxxxx"\npassword: "aaaaaaaaaa"\nsecret=${SECRET_FROM_ENV}')
    assert result.data["findings"] == []
    assert result.data["secrets"]["dismissed_low_entropy"] == 2


def test_health():
    ok, message = SecurityAgent().check_health(SecurityAgent.Params())
    assert ok and "secret rules compiled" in message
    ok, message = SecurityAgent().check_health(SecurityAgent.Params(ca_bundle="/nonexistent.pem"))
    assert not ok and "/nonexistent.pem" in message
