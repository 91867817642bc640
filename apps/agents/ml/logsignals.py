"""What a log line says, apart from how rare it is: known offensive tools, shells wired to the
network, encoded payloads, download-and-run, authentication failures. Each rule has a weight in
[0, 1] and a label that the explanation shows next to the matched text."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    label: str
    weight: float
    pattern: re.Pattern


RULES = [
    Rule(
        "credential-dumping tool",
        1.0,
        re.compile(r"\b(?:mimikatz|sekurlsa|lsadump|invoke-mimikatz|lazagne|procdump\S*\s+\S*lsass)\b", re.I),
    ),
    Rule(
        "reverse shell",
        1.0,
        re.compile(
            r"/dev/(?:tcp|udp)/[\w.-]+/\d+|\b(?:nc|ncat|netcat)\b[^\n|;]*\s-(?:e|c)\s|"
            r"\bsocat\b[^\n]*\bexec:|\bmkfifo\s+/tmp/|"
            r"\bpython[\d.]*\s+-c\s+['\"]?import\s+socket|\bbash\s+-i\s*>&|"
            r"\bsh\s+-i\s+[^\n]*\|\s*nc\b",
            re.I,
        ),
    ),
    Rule(
        "offensive tool",
        0.9,
        re.compile(
            r"\b(?:meterpreter|cobalt ?strike|sliver-server|rubeus|sharphound|bloodhound|psexesvc|"
            r"hydra|masscan|sqlmap|chisel|ngrok|xmrig|kinsing|kdevtmpfsi)\b",
            re.I,
        ),
    ),
    Rule(
        "download and execute",
        0.9,
        re.compile(
            r"\b(?:curl|wget)\b[^\n|]*\|\s*(?:ba|z|da)?sh\b|\b(?:iex|invoke-expression)\b.*downloadstring",
            re.I,
        ),
    ),
    Rule(
        "encoded command",
        0.8,
        re.compile(
            r"\bbase64\s+(?:-d|--decode)\b|-(?:enc|encodedcommand)\s+[A-Za-z0-9+/=]{16,}|frombase64string",
            re.I,
        ),
    ),
    Rule("cryptominer", 0.8, re.compile(r"stratum\+(?:tcp|ssl)://|\bminerd\b|--donate-level", re.I)),
    Rule(
        "authentication failure",
        0.5,
        re.compile(
            r"\bfailed password for\b|\binvalid user\b|\bauthentication failure\b|"
            r"possible break-in attempt|\bmaximum authentication attempts\b",
            re.I,
        ),
    ),
    Rule("root login", 0.4, re.compile(r"\baccepted (?:password|publickey) for root\b", re.I)),
    Rule(
        "payload staged in a world-writable place",
        0.5,
        re.compile(r"\bchmod\s+\+?[0-7]*x?\s+/(?:tmp|dev/shm|var/tmp)/|(?<!\w)/dev/shm/\S+", re.I),
    ),
    Rule(
        "error",
        0.2,
        re.compile(
            r"\b(?:error|fail(?:ed|ure)?|fatal|panic|critical|denied|killed|segfault|out of memory|"
            r"unauthori[sz]ed)\b",
            re.I,
        ),
    ),
]
_BASE64_TOKEN = re.compile(r"(?<![\w+/=])[A-Za-z0-9+/]{32,}={0,2}(?![\w+/=])")


def encoded_payload(line: str) -> str | None:
    """A long base64 token that decodes to mostly printable text (a script, a command), not to
    random bytes (a hash or key)."""
    for match in _BASE64_TOKEN.finditer(line):
        token = match.group(0)
        if token.isalnum() and (token.isdigit() or token.isalpha()):
            continue
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in decoded) / max(1, len(decoded))
        if printable > 0.9:
            return token
    return None


def content_signals(line: str) -> list[dict]:
    """Every rule the line matches, heaviest first, with the matched text."""
    hits = []
    for rule in RULES:
        if match := rule.pattern.search(line):
            hits.append({"signal": rule.label, "weight": rule.weight, "match": match.group(0)[:120]})
    if token := encoded_payload(line):
        hits.append({"signal": "encoded payload", "weight": 0.8, "match": token[:120]})
    return sorted(hits, key=lambda h: -h["weight"])
