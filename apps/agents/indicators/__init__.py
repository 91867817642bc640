"""Indicators of compromise in free text, each with where it is, what it is and how sure we are.

Candidates come from shape (network.py, wallets.py, host.py); context.py scores each from the text
around it; a candidate whose value is not what the text says (after refanging) is dropped, so the
extractor never invents a value. Only indicators at or above GRAPH_MIN_CONFIDENCE are meant for the
knowledge graph; the rest stay in results with their reasons."""

from __future__ import annotations

import dataclasses
import ipaddress

from apps.agents.indicators import host, wallets
from apps.agents.indicators.context import score
from apps.agents.indicators.network import (
    Indicator,
    is_domain,
    network_indicators,
    public_suffix_list,
    refang,
    registrable_domain,
)

__all__ = [
    "GRAPH_MIN_CONFIDENCE",
    "KINDS",
    "Indicator",
    "extract_indicators",
    "for_graph",
    "is_domain",
    "public_suffix_list",
    "refang",
    "registrable_domain",
]

KINDS = (
    "url", "email", "domain", "ipv4", "ipv6", "md5", "sha1", "sha256", "cve", "btc", "eth", "xmr",
    "registry_key", "windows_path", "posix_path", "attack_technique", "asn",
)  # fmt: skip
GRAPH_MIN_CONFIDENCE = 0.7


def for_graph(indicator: Indicator | dict) -> bool:
    """Confident enough to become a knowledge-graph entity (results keep the rest)."""
    confidence = indicator["confidence"] if isinstance(indicator, dict) else indicator.confidence
    return confidence >= GRAPH_MIN_CONFIDENCE


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < s_end and s_start < end for s_start, s_end in spans)


def _within(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s_start <= start and end <= s_end for s_start, s_end in spans)


def _other_candidates(text: str, url_spans: list[tuple[int, int]]) -> list[Indicator]:
    found = []

    def add(kind: str, start: int, end: int, value: str | None = None) -> None:
        if not _overlaps(start, end, url_spans):
            found.append(Indicator(kind, value if value is not None else text[start:end], start, end, False))

    for match in wallets.BTC_BASE58_RE.finditer(text):
        if wallets.btc_base58_valid(match.group(0)):
            add("btc", match.start(), match.end())
    for match in wallets.BTC_BECH32_RE.finditer(text):
        if wallets.btc_bech32_valid(match.group(0)):
            add("btc", match.start(), match.end(), match.group(0).lower())
    for match in wallets.ETH_RE.finditer(text):
        add("eth", match.start(), match.end())
    for match in wallets.XMR_RE.finditer(text):
        add("xmr", match.start(), match.end())
    for kind, pattern in (
        ("registry_key", host.REGISTRY_RE),
        ("windows_path", host.WINDOWS_PATH_RE),
        ("posix_path", host.POSIX_PATH_RE),
    ):
        for match in pattern.finditer(text):
            raw = host.trim(match.group(0))
            if kind == "windows_path" and raw.count("\\") < 1:
                continue
            add(kind, match.start(), match.start() + len(raw))
    for match in host.ATTACK_RE.finditer(text):
        add("attack_technique", match.start(), match.end())
    for match in host.ASN_RE.finditer(text):
        number = int(match.group("number"))
        if host.asn_valid(number):
            add("asn", match.start(), match.end(), f"AS{number}")
    return found


def _faithful(indicator: Indicator, text: str) -> bool:
    """The value is the text at its span, up to refanging and case/address normalisation."""
    raw = refang(text[indicator.start : indicator.end])
    if indicator.kind in ("ipv4", "ipv6"):
        try:
            return ipaddress.ip_address(raw.strip("[]")) == ipaddress.ip_address(indicator.value)
        except ValueError:
            return False
    if indicator.kind == "asn":
        return raw.upper().replace("ASN", "AS").replace(" ", "") == indicator.value
    return raw.lower() == indicator.value.lower()


def extract_indicators(text: str, *, min_confidence: float = 0.0) -> list[Indicator]:
    """Every indicator in `text` with a confidence >= min_confidence, ordered by position (then
    kind). Each carries the reasons its confidence is what it is."""
    candidates = network_indicators(text)
    url_spans = [(i.start, i.end) for i in candidates if i.kind == "url"]
    email_spans = [(i.start, i.end) for i in candidates if i.kind == "email"]
    candidates += _other_candidates(text, url_spans)
    # 40 hex digits after 0x are the address, not also a SHA-1
    eth_spans = [(i.start, i.end) for i in candidates if i.kind == "eth"]
    candidates = [
        i
        for i in candidates
        if i.kind not in ("md5", "sha1", "sha256") or not _overlaps(i.start, i.end, eth_spans)
    ]

    scored: dict[tuple[str, int, int], Indicator] = {}
    for candidate in candidates:
        if not _faithful(candidate, text):
            continue
        host_of = ""
        if candidate.kind in ("domain", "ipv4", "ipv6"):
            if _within(candidate.start, candidate.end, url_spans):
                host_of = "url"
            elif _within(candidate.start, candidate.end, email_spans):
                host_of = "email"
        raw = text[candidate.start : candidate.end]
        confidence, reasons = score(
            candidate.kind, candidate.value, raw, text, candidate.start, candidate.end, host_of=host_of
        )
        if confidence >= min_confidence:
            scored[(candidate.kind, candidate.start, candidate.end)] = dataclasses.replace(
                candidate, confidence=confidence, reasons=reasons
            )
    return sorted(scored.values(), key=lambda i: (i.start, KINDS.index(i.kind)))
