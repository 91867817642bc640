"""Network indicator candidates in free text: IPv4/IPv6 addresses, domains (checked against the bundled
Public Suffix List, no download at run time), URLs, e-mail addresses, MD5/SHA1/SHA256 hashes and
CVE ids, including defanged forms (`hxxp://`, `example[.]org`, `user[at]example[.]org`).

Each match keeps its position in the original text; `value` is the refanged, normalised form.
A domain that is the host of a URL is reported once, with the host's own position; other words
inside URLs (file names like `setup.zip`) are not taken for domains."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

NETWORK_KINDS = ("url", "email", "domain", "ipv4", "ipv6", "md5", "sha1", "sha256", "cve")


@dataclass(frozen=True)
class Indicator:
    kind: str
    value: str
    start: int
    end: int
    defanged: bool
    # How sure we are that the text at start:end really is this kind of thing (not a version
    # string, a method call or a file name); set by context.py. Not part of equality.
    confidence: float = field(default=1.0, compare=False)
    reasons: tuple[str, ...] = field(default=(), compare=False)


@lru_cache(maxsize=1)
def public_suffix_list() -> PublicSuffixList:
    # accept_unknown=False: a name whose last label is not a known suffix is no domain.
    return PublicSuffixList(accept_unknown=False)


# Separators in plain and defanged spelling. Brackets around the dot are the common defang.
_DOT = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})"
_AT = r"(?:@|\[@\]|\(@\)|\[at\]|\(at\)|\{at\})"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_IDN_LABEL = r"(?:xn--[a-z0-9-]{1,59}|" + _LABEL + ")"
_HOSTNAME = _IDN_LABEL + r"(?:" + _DOT + _IDN_LABEL + r")+"
_IPV4 = r"\d{1,3}(?:" + _DOT + r"\d{1,3}){3}"
_SCHEME = r"(?:h(?:tt|xx|XX)ps?|f(?:t|x)p|ws{1,2})"
_SCHEME_SEP = r"(?:://|\[://\]|\[:\]//|:\\\\)"

_URL_RE = re.compile(
    r"(?<![\w])(?P<scheme>"
    + _SCHEME
    + r")"
    + _SCHEME_SEP
    # optional userinfo, then the host: a bracketed IPv6, an IPv4, or a host name
    + r"(?:[^\s/@<>\"'\[\]]+@)?"
    + r"(?P<host>\[[0-9a-f:.]+\]|"
    + _IPV4
    + r"|"
    + _HOSTNAME
    + r"|localhost)"
    + r"(?::\d{1,5})?"
    + r"(?P<rest>[/?#][^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])(?P<local>[a-z0-9][a-z0-9._%+-]{0,63})" + _AT + r"(?P<domain>" + _HOSTNAME + r")(?![\w-])",
    re.IGNORECASE,
)
_DOMAIN_RE = re.compile(r"(?<![\w@.\-/\\])" + _HOSTNAME + r"(?![\w-]|\.\w)", re.IGNORECASE)
_IPV4_RE = re.compile(r"(?<![\w.])" + _IPV4 + r"(?![\w]|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?=[0-9a-f:.]*::|(?:[0-9a-f]{1,4}:){2})"
    r"(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4})?(?![\w:]|\.\d)",
    re.IGNORECASE,
)
_HASH_RE = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})(?![0-9a-f])", re.IGNORECASE)
_CVE_RE = re.compile(r"(?<![\w-])CVE-\d{4}-\d{4,7}(?!\d)", re.IGNORECASE)

_REFANG = [
    (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}", re.IGNORECASE), "."),
    (re.compile(r"\[@\]|\(@\)|\[at\]|\(at\)|\{at\}", re.IGNORECASE), "@"),
    (re.compile(r"\[://\]|\[:\]//"), "://"),
    (re.compile(r"^hxxp", re.IGNORECASE), "http"),
    (re.compile(r"^fxp", re.IGNORECASE), "ftp"),
]
# Characters that end a sentence rather than a URL.
_URL_TRAILING = ".,;:!?)]}'\""


def refang(text: str) -> str:
    for pattern, replacement in _REFANG:
        text = pattern.sub(replacement, text)
    return text


def registrable_domain(host: str) -> str | None:
    """`www.example.co.uk` -> `example.co.uk`; None for a public suffix or an unknown TLD."""
    return public_suffix_list().privatesuffix(host.lower().rstrip("."))


def is_domain(host: str) -> bool:
    host = host.lower().rstrip(".")
    if not host or len(host) > 253 or "." not in host:
        return False
    if not all(re.fullmatch(_IDN_LABEL, label) for label in host.split(".")):
        return False
    return registrable_domain(host) is not None


def _ipv4(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def _ipv6(text: str) -> str | None:
    if text.count(":") < 2 or not re.search(r"[0-9a-f]", text, re.IGNORECASE):
        return None
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"  # the conventional spelling, not ::ffff:102:304
    return str(address)


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < s_end and s_start < end for s_start, s_end in spans)


def _host_indicator(host: str, start: int, end: int, original: str) -> Indicator | None:
    value = refang(host).lower().strip("[]")
    defanged = value != original.lower().strip("[]")
    if (ip := _ipv4(value)) is not None:
        return Indicator("ipv4", ip, start, end, defanged)
    if (ip := _ipv6(value)) is not None:
        return Indicator("ipv6", ip, start, end, defanged)
    if is_domain(value):
        return Indicator("domain", value.rstrip("."), start, end, defanged)
    return None


def _cut_unbalanced(raw: str) -> str:
    """A URL ends at a closing bracket it never opened: `(https://a/b.svg)](https://c)` is two."""
    depth = {"(": 0, "[": 0}
    opener = {")": "(", "]": "["}
    for index, char in enumerate(raw):
        if char in depth:
            depth[char] += 1
        elif char in opener:
            if depth[opener[char]] == 0:
                return raw[:index]
            depth[opener[char]] -= 1
    return raw


def _urls(text: str) -> list[Indicator]:
    found = []
    position = 0
    while (match := _URL_RE.search(text, position)) is not None:
        raw = _cut_unbalanced(match.group(0))
        position = match.start() + max(len(raw), 1)  # rescan what a cut left over
        while raw and raw[-1] in _URL_TRAILING:
            # keep a closing bracket that belongs to the URL, e.g. a Wikipedia path "(disambiguation)"
            if raw[-1] == ")" and raw.count("(") >= raw.count(")"):
                break
            raw = raw[:-1]
        start, end = match.start(), match.start() + len(raw)
        value = refang(raw)
        scheme, _, rest = value.partition("://")
        found.append(Indicator("url", f"{scheme.lower()}://{rest}", start, end, value != raw))
        host, host_start, host_end = match.group("host"), match.start("host"), match.end("host")
        if host.startswith("["):
            host, host_start, host_end = host[1:-1], host_start + 1, host_end - 1
        host_indicator = _host_indicator(host, host_start, host_end, host)
        if host_indicator is not None:
            found.append(host_indicator)
    return found


def network_indicators(text: str) -> list[Indicator]:
    """Every network-ish indicator candidate in `text`, before context scoring."""
    found: list[Indicator] = _urls(text)
    url_spans = [(i.start, i.end) for i in found if i.kind == "url"]

    for match in _EMAIL_RE.finditer(text):
        if _overlaps(match.start(), match.end(), url_spans):
            continue  # user@host inside a URL is its userinfo, not an address
        domain = refang(match.group("domain")).lower()
        if not is_domain(domain):
            continue
        value = f"{match.group('local').lower()}@{domain}"
        found.append(
            Indicator("email", value, match.start(), match.end(), refang(match.group(0)) != match.group(0))
        )
        found.append(
            Indicator(
                "domain",
                domain,
                match.start("domain"),
                match.end("domain"),
                domain != match.group("domain").lower(),
            )
        )
    taken = [(i.start, i.end) for i in found]

    for match in _DOMAIN_RE.finditer(text):
        if _overlaps(match.start(), match.end(), taken):
            continue
        raw = match.group(0)
        value = refang(raw).lower()
        if _ipv4(value) is None and is_domain(value):
            found.append(Indicator("domain", value, match.start(), match.end(), value != raw.lower()))

    for match in _IPV6_RE.finditer(text):
        if _overlaps(match.start(), match.end(), taken):
            continue
        ipv6 = _ipv6(match.group(0))
        if ipv6 is not None:
            found.append(Indicator("ipv6", ipv6, match.start(), match.end(), False))
            taken.append((match.start(), match.end()))  # its IPv4 tail (::ffff:1.2.3.4) is no IPv4

    for match in _IPV4_RE.finditer(text):
        if _overlaps(match.start(), match.end(), taken):
            continue
        ipv4 = _ipv4(refang(match.group(0)))
        if ipv4 is not None:
            found.append(
                Indicator("ipv4", ipv4, match.start(), match.end(), refang(match.group(0)) != match.group(0))
            )

    hash_kinds = {32: "md5", 40: "sha1", 64: "sha256"}
    for match in _HASH_RE.finditer(text):
        if _overlaps(match.start(), match.end(), url_spans):
            continue
        raw = match.group(0)
        found.append(Indicator(hash_kinds[len(raw)], raw.lower(), match.start(), match.end(), False))

    for match in _CVE_RE.finditer(text):
        found.append(Indicator("cve", match.group(0).upper(), match.start(), match.end(), False))

    return found
