"""The OSINT agent against a local DNS server, RDAP server and web site."""

import pytest
from django.test import override_settings

from apps.agents.osint import OsintAgent
from tests.agents.runner import entities, relations, run_agent
from tests.agents.servers import Reply, dns_server, free_closed_port, http_server

pytestmark = pytest.mark.django_db

ZONE = """
. 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 2026112900 1800 900 604800 86400
example.org. 300 IN A 93.184.216.34
example.org. 300 IN AAAA 2606:2800:220:1:248:1893:25c8:1946
example.org. 300 IN MX 10 mail.example.org.
example.org. 300 IN MX 20 mx2.example.net.
example.org. 300 IN NS ns1.example.org.
example.org. 300 IN NS ns2.example.net.
example.org. 300 IN TXT "v=spf1 mx -all"
example.org. 300 IN TXT "site-verification=abc123"
example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 2026010101 7200 3600 1209600 300
example.org. 300 IN CAA 0 issue "letsencrypt.org"
_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.org"
alias.example.org. 300 IN CNAME example.org.
nomail.example.com. 300 IN A 198.51.100.7
nomail.example.com. 300 IN MX 10 mx.example.com.
site.example.net. 300 IN A 127.0.0.1
34.216.184.93.in-addr.arpa. 300 IN PTR example.org.
"""

RDAP_DOMAIN = {
    "objectClassName": "domain",
    "handle": "2336799_DOMAIN_ORG-VRSN",
    "ldhName": "EXAMPLE.ORG",
    "status": ["client delete prohibited", "client transfer prohibited"],
    "events": [
        {"eventAction": "registration", "eventDate": "1995-08-31T04:00:00Z"},
        {"eventAction": "expiration", "eventDate": "2099-08-30T04:00:00Z"},
        {"eventAction": "last changed", "eventDate": "2025-08-14T07:01:39Z"},
    ],
    "nameservers": [
        {"objectClassName": "nameserver", "ldhName": "A.IANA-SERVERS.NET"},
        {"objectClassName": "nameserver", "ldhName": "B.IANA-SERVERS.NET"},
    ],
    "entities": [
        {
            "objectClassName": "entity",
            "roles": ["registrar"],
            "publicIds": [{"type": "IANA Registrar ID", "identifier": "376"}],
            "vcardArray": [
                "vcard",
                [
                    ["version", {}, "text", "4.0"],
                    ["fn", {}, "text", "RESERVED-Internet Assigned Numbers Authority"],
                ],
            ],
            "entities": [
                {
                    "objectClassName": "entity",
                    "roles": ["abuse"],
                    "vcardArray": [
                        "vcard",
                        [["version", {}, "text", "4.0"], ["email", {}, "text", "abuse@iana.org"]],
                    ],
                }
            ],
        }
    ],
}

RDAP_IP = {
    "objectClassName": "ip network",
    "handle": "NET-93-184-216-0-1",
    "startAddress": "93.184.216.0",
    "endAddress": "93.184.216.255",
    "ipVersion": "v4",
    "name": "EDGECAST-NETBLK-03",
    "type": "DIRECT ALLOCATION",
    "country": "US",
    "cidr0_cidrs": [{"v4prefix": "93.184.216.0", "length": 24}],
    "events": [{"eventAction": "registration", "eventDate": "2008-06-02T00:00:00Z"}],
    "entities": [
        {
            "roles": ["registrant"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Edgecast Inc."]]],
        }
    ],
}

PAGE = """<!doctype html><html><head><title> Example   Site </title>
<meta name="generator" content="WordPress 6.4.2"><meta name="description" content="A test site"></head>
<body><a href="/about">About</a> <a href="https://partner.example.com/x">Partner</a>
<a href="http://evil.example.net:8080/">x</a> <a href="javascript:void(0)">js</a>
<a href="mailto:Contact@Example.org?subject=hi">mail</a> <a href="tel:+1-555-010-9999">call</a>
<p>Write to press@example.org or call +44 20 7946 0958. Sample d41d8cd98f00b204e9800998ecf8427e.</p>
<script>var hidden = "hidden@example.com";</script></body></html>"""


@pytest.fixture
def internet():
    """DNS, RDAP and a web site for the agent, all on 127.0.0.1, which egress may reach here."""
    rdap_routes = {
        "/domain/example.org": Reply.json(RDAP_DOMAIN, content_type="application/rdap+json"),
        "/ip/93.184.216.34": Reply.json(RDAP_IP, content_type="application/rdap+json"),
    }
    site_routes = {"/": Reply.redirect("/home", 301), "/home": Reply.html(PAGE, [("Server", "nginx/1.18.0")])}
    with (
        dns_server(ZONE) as (resolver_address, resolver),
        http_server(rdap_routes) as rdap_server,
        http_server(site_routes) as site,
        override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"], AMAS_EGRESS_RESOLVERS=[resolver_address]),
    ):
        yield {
            "params": {"resolvers": [resolver_address], "rdap_base_url": rdap_server.url("").rstrip("/")},
            "resolver": resolver,
            "rdap": rdap_server,
            "site": site,
        }


def osint(organization, target, params, **kwargs):
    return run_agent(
        OsintAgent, organization, target=target, task_type="investigation", params=params, **kwargs
    )


def test_a_domain(organization, internet):
    result = osint(organization, "example.org", internet["params"])

    assert result.status == "completed"
    data = result.data
    assert data["target"] == {"value": "example.org", "kind": "domain"}
    dns = data["dns"]
    assert dns["exists"] is True
    records = dns["records"]
    assert records["A"] == ["93.184.216.34"]
    assert records["AAAA"] == ["2606:2800:220:1:248:1893:25c8:1946"]
    assert records["MX"] == [
        {"preference": 10, "exchange": "mail.example.org"},
        {"preference": 20, "exchange": "mx2.example.net"},
    ]
    assert records["NS"] == ["ns1.example.org", "ns2.example.net"]
    assert records["TXT"] == ["v=spf1 mx -all", "site-verification=abc123"]
    assert records["SOA"] == [
        {
            "mname": "ns1.example.org",
            "rname": "hostmaster.example.org",
            "serial": 2026010101,
            "refresh": 7200,
            "retry": 3600,
            "expire": 1209600,
            "minimum": 300,
        }
    ]
    assert records["CAA"] == [{"flags": 0, "tag": "issue", "value": "letsencrypt.org"}]
    assert records["CNAME"] == []
    assert dns["spf"] == "v=spf1 mx -all"
    assert dns["dmarc"] == {
        "record": "v=DMARC1; p=reject; rua=mailto:dmarc@example.org",
        "tags": {"v": "DMARC1", "p": "reject", "rua": "mailto:dmarc@example.org"},
    }
    assert dns["errors"] == []

    rdap = data["rdap"]
    assert rdap["found"] is True
    assert rdap["domain"] == "example.org"
    assert rdap["registrar"] == "RESERVED-Internet Assigned Numbers Authority"
    assert rdap["registrar_iana_id"] == "376"
    assert rdap["abuse_email"] == "abuse@iana.org"
    assert rdap["registered"] == "1995-08-31T04:00:00Z"
    assert rdap["expires"] == "2099-08-30T04:00:00Z"
    assert rdap["updated"] == "2025-08-14T07:01:39Z"
    assert rdap["status"] == ["client delete prohibited", "client transfer prohibited"]
    assert rdap["nameservers"] == ["a.iana-servers.net", "b.iana-servers.net"]
    assert internet["rdap"].seen[0].headers["accept"].startswith("application/rdap+json")

    assert data["findings"] == []
    assert data["errors"] == []
    assert relations(result) >= {
        ("domain", "example.org", "resolves_to", "ip", "93.184.216.34"),
        ("domain", "example.org", "resolves_to", "ip", "2606:2800:220:1:248:1893:25c8:1946"),
        ("domain", "example.org", "mail_handled_by", "domain", "mail.example.org"),
        ("domain", "example.org", "mail_handled_by", "domain", "mx2.example.net"),
        ("domain", "example.org", "name_served_by", "domain", "a.iana-servers.net"),
    }
    assert result.summary == (
        "example.org (domain); resolves to 93.184.216.34, 2606:2800:220:1:248:1893:25c8:1946; "
        "mail handled by mail.example.org, mx2.example.net; SPF present; DMARC p=reject; "
        "registered 1995-08-31 with RESERVED-Internet Assigned Numbers Authority, expires 2099-08-30."
    )
    assert result.progress[-1] == (90, "writing the summary")


def test_a_mail_domain_without_spf_or_dmarc_gets_findings(organization, internet):
    result = osint(organization, "nomail.example.com", internet["params"])
    assert result.data["target"]["kind"] == "hostname"
    titles = {(f["severity"], f["title"]) for f in result.data["findings"]}
    assert titles == {("low", "No SPF record"), ("low", "No DMARC policy")}
    assert all(f["evidence"] and f["remediation"] for f in result.data["findings"])
    assert result.data["rdap"] == {
        "url": internet["params"]["rdap_base_url"] + "/domain/example.com",
        "final_url": internet["params"]["rdap_base_url"] + "/domain/example.com",
        "status": 404,
        "found": False,
    }


def test_a_cname(organization, internet):
    result = osint(organization, "alias.example.org", internet["params"])
    assert result.data["dns"]["records"]["CNAME"] == ["example.org"]
    assert ("domain", "alias.example.org", "alias_of", "domain", "example.org") in relations(result)


def test_an_email_address(organization, internet):
    result = osint(organization, "Alice@Example.org", internet["params"])
    assert result.data["target"] == {"value": "alice@example.org", "kind": "email"}
    assert result.data["dns"]["name"] == "example.org"
    assert result.data["rdap"]["registrar"] == "RESERVED-Internet Assigned Numbers Authority"
    assert ("email", "alice@example.org", "at", "domain", "example.org") in relations(result)


def test_an_ip_address(organization, internet):
    result = osint(organization, "93.184.216.34", internet["params"])
    assert result.data["reverse_dns"] == {"ip": "93.184.216.34", "ptr": ["example.org"], "errors": []}
    rdap = result.data["rdap"]
    assert (rdap["name"], rdap["handle"], rdap["country"], rdap["type"]) == (
        "EDGECAST-NETBLK-03",
        "NET-93-184-216-0-1",
        "US",
        "DIRECT ALLOCATION",
    )
    assert (rdap["start_address"], rdap["end_address"], rdap["cidrs"]) == (
        "93.184.216.0",
        "93.184.216.255",
        ["93.184.216.0/24"],
    )
    assert rdap["organization"] == "Edgecast Inc."
    assert relations(result) >= {
        ("domain", "example.org", "resolves_to", "ip", "93.184.216.34"),
        ("ip", "93.184.216.34", "allocated_to", "organization", "Edgecast Inc."),
    }
    assert "reverse DNS example.org" in result.summary
    assert "allocated to Edgecast Inc. (US)" in result.summary


def test_a_url(organization, internet):
    site = internet["site"]
    url = site.url("/", host="site.example.net")
    result = osint(organization, url, internet["params"])

    page = result.data["page"]
    assert page["url"] == site.url("/home", host="site.example.net")
    assert page["status"] == 200
    assert page["address"] == "127.0.0.1"
    assert page["redirect_chain"] == [{"url": url, "status": 301, "location": page["url"]}]
    assert page["headers"]["server"] == "nginx/1.18.0"
    assert page["content_type"] == "text/html; charset=utf-8"
    assert page["title"] == "Example Site"
    assert page["generator"] == "WordPress 6.4.2"
    assert page["description"] == "A test site"
    assert page["links"] == [
        site.url("/about", host="site.example.net"),
        "https://partner.example.com/x",
        "http://evil.example.net:8080/",
    ]
    assert page["outbound_domains"] == ["evil.example.net", "partner.example.com"]
    assert page["emails"] == ["contact@example.org", "press@example.org"]
    assert page["phones"] == ["+15550109999", "+442079460958"]
    assert page["truncated"] is False
    assert result.data["dns"]["records"]["A"] == ["127.0.0.1"]

    final = page["url"]
    assert relations(result) >= {
        ("url", url, "hosted_on", "domain", "site.example.net"),
        ("url", url, "redirects_to", "url", final),
        ("url", final, "links_to", "domain", "partner.example.com"),
        ("url", final, "links_to", "domain", "evil.example.net"),
        ("email", "contact@example.org", "at", "domain", "example.org"),
        ("email", "press@example.org", "at", "domain", "example.org"),
    }
    assert ("hash", "d41d8cd98f00b204e9800998ecf8427e") in entities(result)
    assert ("phone", "+442079460958") in entities(result)
    assert site.seen[0].headers["host"] == f"site.example.net:{site.port}"


def test_a_url_the_egress_policy_refuses(organization, internet):
    with override_settings(AMAS_EGRESS_ALLOWLIST=[]):
        result = osint(organization, "http://127.0.0.1:9/admin", internet["params"])
    assert result.status == "completed"
    page = result.data["page"]
    assert page["refused"] is True
    assert "loopback" in page["reason"]
    assert result.data["findings"][0]["title"] == "Page not fetched"
    assert "refused by the egress policy" in result.summary


def test_indicators_in_free_text_with_positions(organization, internet):
    text = (
        "Beacon to hxxp://bad[.]example[.]com/x from 10.0.0.5; see CVE-2024-3094 and mail ops[at]example.org"
    )
    result = osint(organization, text, internet["params"])

    assert result.data["target"]["kind"] == "text"
    found = [
        (i["kind"], i["value"], text[i["start"] : i["end"]], i["defanged"]) for i in result.data["indicators"]
    ]
    assert found == [
        ("url", "http://bad.example.com/x", "hxxp://bad[.]example[.]com/x", True),
        ("domain", "bad.example.com", "bad[.]example[.]com", True),
        ("ipv4", "10.0.0.5", "10.0.0.5", False),
        ("cve", "CVE-2024-3094", "CVE-2024-3094", False),
        ("email", "ops@example.org", "ops[at]example.org", True),
        ("domain", "example.org", "example.org", False),
    ]
    assert entities(result) >= {
        ("url", "http://bad.example.com/x"),
        ("ip", "10.0.0.5"),
        ("cve", "CVE-2024-3094"),
    }
    assert ("email", "ops@example.org", "at", "domain", "example.org") in relations(result)
    assert internet["resolver"].questions == []  # text is read, not looked up
    assert "indicators: 1 cve, 2 domain, 1 email, 1 ipv4, 1 url" in result.summary


def test_when_nothing_answers_the_result_fails_cleanly(organization):
    params = {
        "resolvers": [f"127.0.0.1:{free_closed_port()}"],
        "dns_timeout": 0.3,
        "rdap_base_url": f"http://127.0.0.1:{free_closed_port()}",
    }
    with override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"]):
        result = osint(organization, "example.org", params)
    assert result.status == "failed"
    stages = {e["stage"] for e in result.data["errors"]}
    assert stages == {"dns", "rdap"}
    assert "did not answer" in result.error_message or "no resolver answered" in result.error_message


def test_the_narrative_goes_through_the_providers_router(organization, internet):
    """With the providers' context contributor, the summary comes from the router (offline here)."""
    result = osint(organization, "example.org", internet["params"], with_contributors=True)
    assert result.summary.startswith("[Extractive summary by the AMAS built-in offline provider]")
    assert "example.org" in result.summary
    assert result.data["narrative"] == result.summary


def test_health_checks_the_resolver(internet):
    agent = OsintAgent()
    ok, message = agent.check_health(OsintAgent.Params(**internet["params"]))
    assert ok and message.endswith("answered")
    ok, message = agent.check_health(
        OsintAgent.Params(resolvers=[f"127.0.0.1:{free_closed_port()}"], dns_timeout=0.3)
    )
    assert not ok and "did not answer" in message


def test_bad_resolver_parameters_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        OsintAgent.Params(resolvers=["not-an-ip"])
    with pytest.raises(ValidationError):
        OsintAgent.Params(record_types=["A", "SPF"])
