"""Secret scanning of text and code: private keys, cloud keys, tokens, passwords in URLs and
generic `password = ...` assignments. An entropy check cuts false positives (placeholders such as
`password = changeme`). Findings carry the location and a masked preview, never the secret."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from apps.agents.netintel.findings import finding


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    severity: str
    pattern: re.Pattern[str]
    min_entropy: float | None  # None: the format alone is proof enough; "generic": the agent's threshold


GENERIC = -1.0
_PLACEHOLDER = re.compile(
    r"^(?:\$\{|\{\{|<|%\(|\$[A-Za-z_]|process\.env|os\.environ|os\.getenv|getenv|env\()"
)
RULES = [
    Rule(
        "private_key",
        "Private key",
        "critical",
        re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
        None,
    ),
    Rule(
        "aws_access_key_id", "AWS access key id", "high", re.compile(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"), 3.0
    ),
    Rule(
        "aws_secret_access_key",
        "AWS secret access key",
        "critical",
        re.compile(r"(?i)aws_?secret_?access_?key\s*[:=]\s*['\"]?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"),
        4.0,
    ),
    Rule("github_token", "GitHub token", "high", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b"), 3.5),
    Rule(
        "github_pat",
        "GitHub fine-grained token",
        "high",
        re.compile(r"\b(github_pat_[A-Za-z0-9_]{40,255})\b"),
        3.5,
    ),
    Rule("slack_token", "Slack token", "high", re.compile(r"\b(xox[abprs]-[A-Za-z0-9-]{10,})\b"), 3.0),
    Rule(
        "google_api_key",
        "Google API key",
        "high",
        re.compile(r"\b(AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])"),
        3.5,
    ),
    Rule(
        "stripe_live_key",
        "Stripe live secret key",
        "critical",
        re.compile(r"\b((?:sk|rk)_live_[0-9A-Za-z]{24,})\b"),
        3.5,
    ),
    Rule(
        "jwt",
        "JSON Web Token",
        "medium",
        re.compile(r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
        3.0,
    ),
    Rule(
        "password_in_url",
        "Password in a URL",
        "high",
        re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@'\"]+:([^\s@/'\"]{3,})@[^\s/'\"]+", re.IGNORECASE),
        2.0,
    ),
    Rule(
        "generic_secret",
        "Hard-coded secret",
        "medium",
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)"
            r"['\"]?\s*[:=]\s*['\"]?([^\s'\";,)]{8,})"
        ),
        GENERIC,
    ),
]


def shannon_entropy(value: str) -> float:
    """Bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def mask(secret: str) -> str:
    """A few leading characters, then asterisks: enough to recognise, never enough to use."""
    if not secret:
        return ""
    shown = 4 if len(secret) >= 16 else (2 if len(secret) >= 8 else 0)
    return secret[:shown] + "*" * min(max(len(secret) - shown, 3), 12)


def _location(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def scan_secrets(
    text: str, *, source: str, entropy_threshold: float = 3.5
) -> tuple[list[dict[str, Any]], int]:
    """(findings, how many candidates the entropy check dismissed)."""
    found: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    dismissed = 0
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            group = 1 if match.groups() else 0
            secret, start, end = match.group(group), match.start(group), match.end(group)
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue  # a more specific rule already reported it
            if rule.min_entropy == GENERIC and _PLACEHOLDER.match(secret):
                continue  # ${VAR}, {{ var }}, <your-key>, os.environ[...]: a reference, not a secret
            threshold = entropy_threshold if rule.min_entropy == GENERIC else rule.min_entropy
            entropy = shannon_entropy(secret)
            if threshold is not None and entropy < threshold:
                dismissed += 1
                continue
            taken.append((start, end))
            line, column = _location(text, start)
            line_text = text[text.rfind("\n", 0, start) + 1 : start] + (
                secret if rule.name == "private_key" else mask(secret)
            )
            preview = (line_text + text[end : end + 40].split("\n", 1)[0]).strip()[:160]
            found.append(
                finding(
                    rule.severity,
                    "secrets",
                    rule.title,
                    f"{source} line {line}, column {column}: {preview}",
                    "Remove the secret, rotate it at its issuer and load it from a secret store.",
                    rule=rule.name,
                    source=source,
                    line=line,
                    column=column,
                    offset=start,
                    preview=preview,
                    masked=secret if rule.name == "private_key" else mask(secret),
                    entropy=round(entropy, 2),
                )
            )
    found.sort(key=lambda f: f["offset"])
    return found, dismissed
