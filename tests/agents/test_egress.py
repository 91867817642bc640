"""The egress helper: what agents and webhooks may reach, and how."""

import logging

import pytest
from django.test import override_settings

from apps.agents.models import AuthorisedTarget, EgressAllowlistEntry
from apps.core.egress import (
    EgressError,
    EgressRefused,
    address_problem,
    authorised_for_active_probing,
    egress_get,
    egress_request,
    probing_authorisation,
)
from tests.agents.servers import Reply, dns_server, http_server, issue, server_tls

pytestmark = pytest.mark.django_db

LOCAL = override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata service"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "shared address space"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("fd00:ec2::254", "cloud metadata service"),
        ("::ffff:127.0.0.1", "loopback (embedded in ::ffff:7f00:1)"),
        ("::ffff:169.254.169.254", "cloud metadata service (embedded in ::ffff:a9fe:a9fe)"),
        ("2002:7f00:1::", "loopback (embedded in 2002:7f00:1::)"),
        ("64:ff9b::a00:1", "private (embedded in 64:ff9b::a00:1)"),
    ],
)
def test_forbidden_addresses_and_why(address, reason):
    assert address_problem(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_fine(address):
    assert address_problem(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_requests_to_forbidden_destinations_are_refused(url):
    with pytest.raises(EgressRefused) as err:
        egress_get(url)
    assert "Refused to connect" in str(err.value)
    assert "egress allowlist" in str(err.value)


def test_only_http_and_https_are_allowed():
    with pytest.raises(EgressRefused):
        egress_get("file:///etc/passwd")
    with pytest.raises(EgressRefused):
        egress_get("gopher://example.org/")


ZONE = """
rebind.test. 60 IN A 127.0.0.1
mixed.test. 60 IN A 93.184.216.34
mixed.test. 60 IN A 10.0.0.1
v6local.test. 60 IN AAAA ::1
site.test. 60 IN A 127.0.0.1
good.test. 60 IN A 127.0.0.1
"""


@pytest.fixture
def dns():
    with dns_server(ZONE) as (address, resolver), override_settings(AMAS_EGRESS_RESOLVERS=[address]):
        yield resolver


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("rebind.test", "rebind.test (127.0.0.1)"),
        ("mixed.test", "mixed.test (10.0.0.1)"),
        ("v6local.test", "(::1)"),
    ],
)
def test_a_name_resolving_to_a_forbidden_address_is_refused(dns, name, shown):
    with pytest.raises(EgressRefused) as err:
        egress_get(f"http://{name}/")
    assert shown in str(err.value)


def test_names_are_resolved_once_and_the_connection_goes_to_that_address(dns):
    """The server sees the original name in Host, though the connection went to the checked IP."""
    with LOCAL, http_server({"/": Reply.html("<title>hi</title>")}) as server:
        response = egress_get(server.url("/", host="site.test"))
    assert response.status_code == 200
    assert response.address == "127.0.0.1"
    assert server.seen[0].headers["host"] == f"site.test:{server.port}"
    assert dns.asked("site.test", "A") == 1


def test_https_to_a_pinned_address_still_verifies_the_name(dns, tmp_path):
    ca = issue(tmp_path, "ca", common_name="Test CA", ca=True)
    good = issue(tmp_path, "good", common_name="good.test", sans=["good.test"], issuer=ca)
    other = issue(tmp_path, "other", common_name="other.test", sans=["other.test"], issuer=ca)
    with LOCAL, http_server({"/": Reply.html("secure")}, tls=server_tls(good)) as server:
        response = egress_get(server.url("/", host="good.test"), verify=str(ca.cert_path))
        assert response.text == "secure"
        with pytest.raises(EgressError) as err:
            egress_get(server.url("/", host="good.test"))  # default trust store: our CA is unknown
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    with LOCAL, http_server({"/": Reply.html("secure")}, tls=server_tls(other)) as server:
        with pytest.raises(EgressError) as err:
            egress_get(server.url("/", host="good.test"), verify=str(ca.cert_path))
        assert "good.test" in str(err.value) or "match" in str(err.value).lower()


def test_an_allowlisted_address_is_reachable_and_identifies_itself():
    with (
        LOCAL,
        override_settings(AMAS_EGRESS_USER_AGENT="AMAS-test/1.0"),
        http_server({"/": Reply.html("<p>hello</p>", [("X-Test", "1")])}) as server,
    ):
        response = egress_get(server.url("/"))
    assert (response.status_code, response.headers["x-test"], response.text) == (200, "1", "<p>hello</p>")
    assert server.seen[0].headers["user-agent"] == "AMAS-test/1.0"


def test_an_admin_allowlist_entry_allows_an_address():
    with http_server({"/": Reply.html("ok")}) as server:
        with pytest.raises(EgressRefused):
            egress_get(server.url("/"))
        EgressAllowlistEntry.objects.create(value="127.0.0.0/8", note="lab")
        assert egress_get(server.url("/")).status_code == 200
        EgressAllowlistEntry.objects.update(enabled=False)
        with pytest.raises(EgressRefused):
            egress_get(server.url("/"))


def test_ipv6_loopback_is_reachable_only_when_allowlisted():
    with http_server({"/": Reply.html("six")}, host="::1") as server:
        with pytest.raises(EgressRefused):
            egress_get(server.url("/"))
        with override_settings(AMAS_EGRESS_ALLOWLIST=["::1"]):
            response = egress_get(server.url("/"))
    assert (response.text, response.address) == ("six", "::1")


def test_redirects_are_followed_recorded_and_rechecked():
    routes = {
        "/a": Reply.redirect("/b", 301),
        "/b": Reply.redirect("/c", 302),
        "/c": Reply.html("end"),
        "/to-private": Reply.redirect("http://10.0.0.1/admin"),
        "/to-metadata": Reply.redirect("http://169.254.169.254/latest/meta-data/"),
        "/loop": Reply.redirect("/loop"),
    }
    with LOCAL, http_server(routes) as server:
        response = egress_get(server.url("/a"))
        assert response.text == "end"
        assert response.url == server.url("/c")
        assert [(r["status"], r["location"]) for r in response.redirects] == [
            (301, server.url("/b")),
            (302, server.url("/c")),
        ]
        with pytest.raises(EgressRefused, match="10.0.0.1"):
            egress_get(server.url("/to-private"))
        with pytest.raises(EgressRefused, match="cloud metadata"):
            egress_get(server.url("/to-metadata"))
        with pytest.raises(EgressError, match="Too many redirects"):
            egress_get(server.url("/loop"), max_redirects=3)
        not_followed = egress_get(server.url("/a"), follow_redirects=False)
        assert not_followed.status_code == 301


def test_a_post_redirected_with_303_becomes_a_get():
    routes = {"/submit": Reply.redirect("/done", 303), "/done": Reply.html("thanks")}
    with LOCAL, http_server(routes) as server:
        response = egress_request("POST", server.url("/submit"), json={"a": 1})
    assert response.text == "thanks"
    assert [(s.method, s.path) for s in server.seen] == [("POST", "/submit"), ("GET", "/done")]


def test_responses_are_capped_in_size():
    with LOCAL, http_server({"/big": Reply(200, b"x" * 200_000, [("Content-Type", "text/plain")])}) as server:
        response = egress_get(server.url("/big"), max_bytes=1000)
    assert response.truncated is True
    assert len(response.content) == 1000


def test_responses_are_capped_in_time():
    slow = Reply(200, b"y" * 50, [("Content-Type", "text/plain")], delay=0.3, chunks=50)
    with LOCAL, http_server({"/slow": slow}) as server, pytest.raises(EgressError, match="Timed out"):
        egress_get(server.url("/slow"), timeout=1.0)


def test_every_request_logs_a_line_with_its_task_id(caplog):
    with (
        LOCAL,
        http_server({"/": Reply.html("ok")}) as server,
        caplog.at_level(logging.INFO, logger="amas.egress"),
    ):
        egress_get(server.url("/"), task_id="task-123")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "amas.egress"]
    assert f"GET {server.url('/')}" in line
    assert "via 127.0.0.1 -> 200" in line
    assert line.endswith("task=task-123")


def test_a_refused_connection_is_an_error_not_a_crash():
    from tests.agents.servers import free_closed_port

    with LOCAL, pytest.raises(EgressError, match="failed"):
        egress_get(f"http://127.0.0.1:{free_closed_port()}/")


@override_settings(AMAS_AUTHORISED_TARGETS=["lab.example.org", "192.0.2.0/24"])
def test_active_probing_only_on_authorised_targets():
    assert authorised_for_active_probing("lab.example.org")
    assert authorised_for_active_probing("https://www.lab.example.org/path")
    assert authorised_for_active_probing("192.0.2.10")
    assert not authorised_for_active_probing("example.org")
    assert not authorised_for_active_probing("evil-lab.example.org.attacker.test")
    assert not authorised_for_active_probing("198.51.100.1")
    # a name is authorised by range only through the address the prober will connect to
    assert not authorised_for_active_probing("scanme.test")
    assert authorised_for_active_probing("scanme.test", address="192.0.2.7")

    allowed, reason = probing_authorisation("example.net")
    assert not allowed
    assert "not an authorised target" in reason and "Authorised targets" in reason

    AuthorisedTarget.objects.create(value="example.net", note="pentest contract 2026")
    assert authorised_for_active_probing("www.example.net")
