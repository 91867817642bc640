"""How sure a candidate is of its kind, judged from the text around it.

Regular expressions find shapes; this module decides whether the shape means what it looks like:
a dotted quad after "version" is a version, `logger.info(` is a method call, `setup.py` is a file,
32 hex digits after `xmp.did:` are a document id. Each rule lowers (or, with words like "C2" or
"sha256" nearby, raises) a confidence in [0, 1] and leaves a reason an analyst can read."""

from __future__ import annotations

import re

Score = tuple[float, tuple[str, ...]]  # (confidence, reasons)

# Last labels that are real TLDs and also common file extensions (checked against the bundled
# Public Suffix List): a two-label name ending in one is a file name far more often than a domain.
FILE_EXTENSION_TLDS = frozenset(
    [
        "py",
        "md",
        "sh",
        "rs",
        "zip",
        "mov",
        "pl",
        "so",
        "cc",
        "ps",
        "ml",
        "pm",
        "ai",
        "tf",
        "mo",
        "in",
        "am",
        "ac",
        "st",
        "sc",
        "cab",
        "java",
        "app",
        "cat",
        "sb",
        "sr",
        "gs",
        "mk",
        "nc",
        "pub",
    ]
)
# Generic TLDs that are also everyday method and attribute names (`x.info`, `page.next`).
CODE_WORD_TLDS = frozenset(
    [
        "info",
        "name",
        "run",
        "new",
        "data",
        "read",
        "save",
        "open",
        "call",
        "show",
        "link",
        "map",
        "search",
        "next",
        "page",
        "box",
        "id",
        "web",
        "target",
        "services",
    ]
)
# First labels that are receivers in code (`self.name`, `os.path`), never hosts in reports.
CODE_RECEIVERS = frozenset(
    [
        "self",
        "cls",
        "this",
        "super",
        "os",
        "sys",
        "re",
        "np",
        "pd",
        "plt",
        "tf",
        "torch",
        "json",
        "math",
        "time",
        "datetime",
        "logging",
        "logger",
        "log",
        "args",
        "kwargs",
        "ctx",
        "request",
        "response",
        "req",
        "res",
        "settings",
        "config",
        "conf",
        "app",
        "obj",
        "item",
        "node",
        "event",
        "options",
        "opts",
        "params",
        "parser",
        "module",
        "window",
        "document",
        "console",
        "process",
        "exports",
        "util",
        "utils",
        "path",
        "str",
        "dict",
        "list",
        "django",
        "models",
        "forms",
        "self_",
        "result",
        "results",
        "data",
        "value",
        "values",
        "field",
        "fields",
    ]
)
_CODE_LINE = re.compile(
    r"^\s*(?:def|class|import|from|return|if|elif|for|while|with|try|except|raise|assert|"
    r"const|let|var|function|public|private|static|void|int|#include)\b"
    r"|\w\s*\(|\s=\s|[{};]\s*$|==|!=|->|:=|\+=",
)
_DOMAIN_WORDS = re.compile(
    r"(?i)\b(?:domains?|c2|c&c|command[- ]and[- ]control|resolv\w*|hosted|hosts?|beacon\w*|"
    r"contact\w*|connect\w*|callback|dns|phishing|sinkhol\w*|lookalike|typosquat\w*|registered|"
    r"exfiltrat\w*|download\w* from|served from|infrastructure|ioc\w*)\b"
)
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bv|\bver\.?|version|release|build|revision|\brev\.?|fileversion|productversion|"
    r"assemblyversion|firmware|==|>=|<=|~=|!=|\bsdk|\bapi)(?:\s+(?:tag|string|number|id|no\.?))?\s*[:=]?\s*[\"']?\s*$"
)
_OID_BEFORE = re.compile(r"(?i)\b(?:oid|object identifier)\s*[:=]?\s*$")
_IP_WORDS = re.compile(
    r"(?i)\b(?:ip|ips|ipv4|address(?:es)?|server|host|c2|c&c|connect\w*|contact\w*|beacon\w*|"
    r"scan\w*|attack\w*|source|destination|from|egress|ingress|proxy|resolv\w*|dns|gateway)\b"
)
_IDENTIFIER_BEFORE = re.compile(
    r"(?i)(?:xmp\.[di]id:|xmpmm:\w+|uuid|guid|boundary|documentid|instanceid|originaldocumentid|derivedfrom|"
    r"\bid|token|nonce|salt|session\w*|secret|api[_-]?key|\bkey|etag|commit|revision|rev)"
    r"[\"']?\s*[:=]?\s*[\"'{(]?\s*(?:uuid:)?$"
)
_HASH_WORDS = re.compile(
    r"(?i)\b(?:md5|sha-?1|sha-?256|hash(?:es)?|checksum|digest|sample|samples|payload|dropper|"
    r"loader|implant|binary|executable|file|ioc\w*|imphash)\b"
)
_WALLET_WORDS = re.compile(r"(?i)\b(?:wallet|bitcoin|btc|ether\w*|eth|monero|xmr|ransom|address|pay)\b")
_ATTACK_WORDS = re.compile(r"(?i)att&ck|mitre|technique|tactic|sub-technique")
_ASN_WORDS = re.compile(r"(?i)\b(?:asn?|autonomous|bgp|hosting|provider|network|isp|announced|prefix)\b")


_CODE_HINT = re.compile(
    r"^\s{4,}\S|[(){}\[\];,=:]\s*$|\w\(|\s=\s|==|->|^\s*(?:def|class|import|from|return|if|for|while|"
    r"with|try|except|const|let|var|function)\b|^\s*#\s|^\s*//"
)


def _in_source_code(text: str, start: int, end: int) -> bool:
    """Three or more of the seven lines around the match read as code (indentation, brackets at
    the end, calls, assignments, keywords, comment markers): the match sits in source code, where a
    dotted name is an attribute chain (`record.member.name`, `files.download`) whatever words are
    near it."""
    first = start
    for _ in range(4):
        first = text.rfind("\n", 0, max(0, first - 1)) + 1 if first > 0 else 0
    last = end
    for _ in range(4):
        found = text.find("\n", last + 1)
        last = found if found >= 0 else len(text)
    lines = text[first:last].split("\n")
    return sum(1 for line in lines if _CODE_HINT.search(line)) >= 3


def _line(text: str, start: int, end: int) -> str:
    return text[text.rfind("\n", 0, start) + 1 : (text.find("\n", end) + 1 or len(text) + 1) - 1]


def _near(pattern: re.Pattern, text: str, start: int, end: int, width: int = 80) -> bool:
    """A context word around the match, not inside it ("AS13335" is no "as" context for itself)."""
    return bool(pattern.search(text[max(0, start - width) : start] + " \n " + text[end : end + width]))


def score(kind: str, value: str, raw: str, text: str, start: int, end: int, *, host_of: str = "") -> Score:
    """(confidence, reasons) for one candidate. `host_of` is "url" or "email" for a host that was
    found inside one; such a host is as good as its container."""
    before, after = text[max(0, start - 48) : start], text[end : end + 2]
    scorer = _SCORERS.get(kind)
    if scorer is None:
        return 0.9, ()
    return scorer(
        value=value, raw=raw, text=text, start=start, end=end, before=before, after=after, host_of=host_of
    )


def _domain(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    if host_of == "url":
        return 0.95, ("host of a URL",)
    defanged = value != raw.lower()
    if defanged:
        return 0.97, ("defanged",)
    labels = value.split(".")
    tld = labels[-1]
    if host_of == "email":
        return 0.9, ("domain of an e-mail address",)
    if after.startswith("("):
        return 0.05, ("followed by a call: code",)
    if re.search(r"(?:\bimport|\bfrom)\s+$", before):
        return 0.05, ("module import",)
    if labels[0] in CODE_RECEIVERS:
        return 0.1, (f"{labels[0]}. is a code receiver",)
    if re.search(r"[a-z][A-Z]", raw) or re.search(r"\.[A-Z]{2,}[a-z]", raw):
        return 0.2, ("camelCase identifier",)
    if len(labels) == 2 and tld in FILE_EXTENSION_TLDS:
        return 0.15, (f".{tld} is a file extension",)
    if _in_source_code(text, start, end):
        return 0.3, ("inside source code: an attribute chain",)
    contextual = _near(_DOMAIN_WORDS, text, start, end)
    if len(labels) == 2 and tld in CODE_WORD_TLDS and not contextual:
        return 0.3, (f".{tld} is also an attribute name",)
    if tld in FILE_EXTENSION_TLDS and _CODE_LINE.search(_line(text, start, end)):
        return 0.3, (f".{tld} is also a file extension, on a line of code",)
    if _CODE_LINE.search(_line(text, start, end)) and not contextual:
        return 0.45, ("line looks like source code",)
    if before.endswith(("`", "'", '"')) and after[:1] in ("`", "'", '"') and not contextual:
        return 0.6, ("quoted name",)
    return (0.95 if contextual else 0.85), (("domain context",) if contextual else ())


def _ipv4(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    if host_of == "url":
        return 0.95, ("host of a URL",)
    if raw != value and not re.search(r"0\d", raw):
        return 0.97, ("defanged",)
    if _VERSION_BEFORE.search(before) or re.search(r"[A-Za-z][\w]*[-_]$", before):
        return 0.05, ("version context",)
    if _OID_BEFORE.search(before):
        return 0.05, ("OID context",)
    if re.match(r"-[A-Za-z0-9]|\.[A-Za-z]|[A-Za-z]", after) and not re.match(r"\.\s", after):
        return 0.2, ("suffix like a version",)
    if re.search(r"(?:^|\.)0\d", raw):
        return 0.3, ("leading zeros",)
    contextual = _near(_IP_WORDS, text, start, end, 60)
    if all(int(o) < 10 for o in value.split(".")) and not contextual:
        return 0.5, ("small octets read like a version",)
    return (0.95 if contextual else 0.85), (("address context",) if contextual else ())


def _ipv6(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    if host_of == "url":
        return 0.95, ("host of a URL",)
    groups = [g for g in raw.split(":") if g]
    if before.endswith("[") and raw.startswith("::") and len(groups) <= 1:
        return 0.05, ("slice, not an address",)
    if len(groups) < 2 and value != "::1":
        return 0.3, ("too few groups",)
    if len(groups) < 3 and _CODE_LINE.search(_line(text, start, end)):
        return 0.3, ("line looks like source code",)
    return 0.9, ()


def _hash(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    if before.endswith(("0x", "0X")):
        return 0.1, ("hex number",)
    if _IDENTIFIER_BEFORE.search(before) or after.startswith("-") or before.endswith("-"):
        return 0.1, ("identifier context (XMP/UUID/key/token)",)
    if value.isdigit() or len(set(value)) < 6:
        return 0.2, ("too uniform for a digest",)
    if value.isalpha():
        return 0.3, ("no digits: a word, not a digest",)
    contextual = _near(_HASH_WORDS, text, start, end, 120)
    return (0.97 if contextual else 0.85), (("hash context",) if contextual else ())


def _email(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    return (0.97 if value != raw.lower() else 0.9), ()


def _eth(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    if len(set(value[2:].lower())) < 6:
        return 0.1, ("constant, not an address",)
    contextual = _near(_WALLET_WORDS, text, start, end)
    if _CODE_LINE.search(_line(text, start, end)) and not contextual:
        return 0.4, ("line looks like source code",)
    return (0.95 if contextual else 0.8), (("wallet context",) if contextual else ())


def _xmr(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    return (0.97, ("wallet context",)) if _near(_WALLET_WORDS, text, start, end) else (0.85, ())


def _attack(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    if _near(_ATTACK_WORDS, text, start, end, 200):
        return 0.98, ("ATT&CK context",)
    return 0.8, ()


def _asn(
    *, value: str, raw: str, text: str, start: int, end: int, before: str, after: str, host_of: str
) -> Score:
    number = int(value[2:])
    if number == 400 or before.endswith("/"):
        return 0.2, ("AS/400 is a computer",)
    contextual = _near(_ASN_WORDS, text, start, end)
    if raw.upper().startswith("ASN"):
        return 0.97, ("ASN prefix",)
    if " " in raw:
        # "AS 9808": ioc-finder takes the spaced form without context and lost nothing on our
        # negatives; the regex already asks for three or more digits after the space
        return (0.9 if contextual else 0.75), ()
    return (0.95 if contextual else 0.8), (("network context",) if contextual else ())


def _fixed(confidence: float):  # a tiny scorer factory
    def scorer(**_: object) -> Score:
        return confidence, ()

    return scorer


_SCORERS = {
    "url": _fixed(0.95),
    "email": _email,
    "domain": _domain,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "md5": _hash,
    "sha1": _hash,
    "sha256": _hash,
    "cve": _fixed(0.99),
    "btc": _fixed(0.98),  # only checksum-valid addresses reach scoring
    "eth": _eth,
    "xmr": _xmr,
    "registry_key": _fixed(0.95),
    "windows_path": _fixed(0.9),
    "posix_path": _fixed(0.85),
    "attack_technique": _attack,
    "asn": _asn,
}
