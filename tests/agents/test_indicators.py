"""Indicator extraction: kinds, refanged values, positions in the original text."""

import pytest

from apps.agents.indicators import Indicator, extract_indicators, is_domain, refang, registrable_domain
from apps.agents.targets import parse_target


def found(text):
    return [(i.kind, i.value, text[i.start : i.end], i.defanged) for i in extract_indicators(text)]


def test_every_kind_with_its_position():
    text = (
        "Mail admin@Example.org, see https://www.example.co.uk/a?b=1. Hosts 8.8.8.8 and 2001:db8::1; "
        "md5 d41d8cd98f00b204e9800998ecf8427e sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 "
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 fixes CVE-2021-44228."
    )
    assert found(text) == [
        ("email", "admin@example.org", "admin@Example.org", False),
        ("domain", "example.org", "Example.org", False),
        ("url", "https://www.example.co.uk/a?b=1", "https://www.example.co.uk/a?b=1", False),
        ("domain", "www.example.co.uk", "www.example.co.uk", False),
        ("ipv4", "8.8.8.8", "8.8.8.8", False),
        ("ipv6", "2001:db8::1", "2001:db8::1", False),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e", False),
        (
            "sha1",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            False,
        ),
        (
            "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            False,
        ),
        ("cve", "CVE-2021-44228", "CVE-2021-44228", False),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hxxps://evil[.]example[.]com/x",
            [("url", "https://evil.example.com/x"), ("domain", "evil.example.com")],
        ),
        ("hxxp[://]bad(.)example(.)net", [("url", "http://bad.example.net"), ("domain", "bad.example.net")]),
        ("evil[dot]example[dot]org", [("domain", "evil.example.org")]),
        ("bob[at]evil[.]com", [("email", "bob@evil.com"), ("domain", "evil.com")]),
        ("10.0.0[.]1", [("ipv4", "10.0.0.1")]),
    ],
)
def test_defanged_forms_are_refanged_and_flagged(text, expected):
    result = extract_indicators(text)
    assert [(i.kind, i.value) for i in result] == expected
    assert all(i.defanged for i in result)


def test_words_that_only_look_like_domains_are_not_domains():
    text = "readme.txt setup.exe github.io foo.notatld version 1.2.3 time 12:30:45 std::vector co.uk"
    assert found(text) == []  # github.io and co.uk are public suffixes, nothing registrable


def test_file_names_in_url_paths_are_not_domains():
    text = "get http://cdn.example.com/dl/setup.zip now"
    assert [(i.kind, i.value) for i in extract_indicators(text)] == [
        ("url", "http://cdn.example.com/dl/setup.zip"),
        ("domain", "cdn.example.com"),
    ]


def test_ip_addresses_in_urls_and_ipv6_forms():
    text = "http://[2001:db8::2]:8080/x http://192.0.2.1/ ::ffff:1.2.3.4 fe80::1 999.1.1.1"
    assert found(text) == [
        ("url", "http://[2001:db8::2]:8080/x", "http://[2001:db8::2]:8080/x", False),
        ("ipv6", "2001:db8::2", "2001:db8::2", False),
        ("url", "http://192.0.2.1/", "http://192.0.2.1/", False),
        ("ipv4", "192.0.2.1", "192.0.2.1", False),
        ("ipv6", "::ffff:1.2.3.4", "::ffff:1.2.3.4", False),
        ("ipv6", "fe80::1", "fe80::1", False),
    ]


def test_sentence_punctuation_does_not_stick_to_urls():
    text = "See (https://example.org/a)."
    assert extract_indicators(text)[0] == Indicator("url", "https://example.org/a", 5, 26, False)


def test_public_suffix_helpers():
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("co.uk") is None
    assert is_domain("xn--bcher-kva.example") is False  # .example is reserved, not in the list
    assert is_domain("xn--bcher-kva.de") is True
    assert refang("hxxp://a[.]b(.)c") == "http://a.b.c"


@pytest.mark.parametrize(
    ("target", "kind", "host"),
    [
        ("https://Shop.Example.org:8443/x", "url", "shop.example.org"),
        ("alice@example.org", "email", "example.org"),
        ("93.184.216.34", "ip", "93.184.216.34"),
        ("[2001:db8::1]", "ip", "2001:db8::1"),
        ("example.org", "domain", "example.org"),
        ("www.example[.]org", "hostname", "www.example.org"),
        ("d41d8cd98f00b204e9800998ecf8427e", "hash", ""),
        ("cve-2024-3094", "cve", ""),
        ("find things about acme", "text", ""),
        ("", "none", ""),
    ],
)
def test_target_kinds(target, kind, host):
    parsed = parse_target(target)
    assert (parsed.kind, parsed.host) == (kind, host)
