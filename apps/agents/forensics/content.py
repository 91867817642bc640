"""Content measures of a byte string: cryptographic and fuzzy hashes, Shannon entropy overall and
per block, and printable ASCII / UTF-16LE strings."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

from django.conf import settings

from apps.agents.forensics.fuzzy import fuzzy_hash

HASH_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


def hashes(data: bytes) -> dict[str, str]:
    out = {name: hashlib.new(name, data).hexdigest() for name in HASH_ALGORITHMS}
    if len(data) <= settings.AMAS_FORENSICS_FUZZY_MAX_BYTES:
        # ssdeep-compatible context-triggered piecewise hash: similar files have similar hashes.
        out["ssdeep"] = fuzzy_hash(data)
    return out


def shannon_entropy(data: bytes) -> float:
    """Bits per byte: ~0 for constant data, ~4.5 for English text, close to 8 for compressed or
    encrypted data."""
    if not data:
        return 0.0
    total = len(data)
    return -sum((n / total) * math.log2(n / total) for n in Counter(data).values())


def entropy_profile(data: bytes, *, block_size: int = 0, max_blocks: int = 256) -> dict:
    """Overall entropy plus one value per block, and the share of blocks that look packed or
    encrypted (> 7.2 bits/byte) — a hint, not a proof (JPEG and ZIP are high entropy too)."""
    if not block_size:
        block_size = max(4096, -(-len(data) // max_blocks))  # ceil division keeps <= max_blocks
    blocks = [
        round(shannon_entropy(data[i : i + block_size]), 3)
        for i in range(0, len(data), block_size)
        if len(data[i : i + block_size]) >= min(256, len(data))
    ]
    high = sum(1 for e in blocks if e > 7.2)
    overall = round(shannon_entropy(data), 4)
    return {
        "overall": overall,
        "block_size": block_size,
        "blocks": blocks,
        "high_entropy_blocks": high,
        "high_entropy_ratio": round(high / len(blocks), 3) if blocks else 0.0,
        "assessment": _assess(overall),
    }


def _assess(entropy: float) -> str:
    if entropy >= 7.5:
        return "compressed or encrypted"
    if entropy >= 6.5:
        return "mixed (code with compressed sections, or packed)"
    if entropy >= 3.0:
        return "structured data or text"
    return "low (sparse or repetitive)"


_ASCII = re.compile(rb"[\x20-\x7e\t]{%d,}")
_UTF16 = re.compile(rb"(?:[\x20-\x7e\t]\x00){%d,}")


def extract_strings(data: bytes, *, min_length: int = 4, limit: int = 5000) -> list[dict]:
    """Printable ASCII and UTF-16LE strings with their offsets, in file order, at most `limit`."""
    found: list[dict] = []
    for match in re.finditer(_ASCII.pattern % min_length, data):
        found.append({"offset": match.start(), "encoding": "ascii", "value": match.group().decode("ascii")})
        if len(found) >= limit:
            break
    wide: list[dict] = []
    for match in re.finditer(_UTF16.pattern % min_length, data):
        wide.append(
            {"offset": match.start(), "encoding": "utf-16le", "value": match.group().decode("utf-16le")}
        )
        if len(wide) >= limit:
            break
    return sorted(found + wide, key=lambda s: s["offset"])[:limit]


# Strings worth an analyst's eye even without an indicator in them.
_INTERESTING = [
    ("registry_key", re.compile(r"\b(?:HKEY_[A-Z_]+|HKLM|HKCU)\\[\w\\ .-]+", re.I)),
    (
        "powershell",
        re.compile(r"\bpowershell(?:\.exe)?\b.*?(?:-enc|-e\s|iex|invoke-expression|downloadstring)", re.I),
    ),
    ("command_shell", re.compile(r"\bcmd(?:\.exe)?\s+/c\b", re.I)),
    ("windows_path", re.compile(r"\b[A-Z]:\\(?:[^\\/:*?\"<>|\r\n]+\\)*[^\\/:*?\"<>|\r\n]*", re.I)),
    ("base64_blob", re.compile(r"\b[A-Za-z0-9+/]{80,}={0,2}")),
    ("user_agent", re.compile(r"Mozilla/\d\.\d \([^)]{5,}\)")),
    ("crypto_wallet", re.compile(r"\b(?:bc1|[13])[a-km-zA-HJ-NP-Z1-9]{25,39}\b")),
]


def interesting_strings(strings: list[dict], *, limit: int = 200) -> list[dict]:
    out = []
    for item in strings:
        for kind, pattern in _INTERESTING:
            if pattern.search(item["value"]):
                out.append({**item, "kind": kind})
                break
        if len(out) >= limit:
            break
    return out
