"""Log templates, Drain-style (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth
Tree", ICWS 2017): variable parts are masked first (addresses, hashes, ids, versions, paths,
numbers), then lines with the same token count and first token are grouped when enough of their
tokens agree, and the positions where members differ become `<*>`.

Without this, every line that carries a package name or a version is its own "rare" pattern and
routine lines outrank attacks: 4,769 patterns for 5,877 dpkg lines before, a few dozen after."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Order matters: the longer, more specific shapes are masked before the pieces they contain.
MASKS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b", re.I), "<mac>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?<![\w:])(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}(?![\w:])", re.I), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{16,}\b", re.I), "<hex>"),
    # Debian/semantic versions: 2.36-9+deb12u10, 1:1.2.3-4~bpo1, 252.38-1~deb12u1, v1.2.3
    (
        re.compile(r"(?<![\w.])v?(?:\d+:)?\d+(?:\.\d+)+(?:[-+~][\w.+~]*)?(?![\w.])|(?<![\w.])\d+-\d[\w.+~]*"),
        "<ver>",
    ),
    (re.compile(r"(?<![\w/])(?:/[\w.@+-]+)+/?"), "<path>"),
    (re.compile(r"\b[A-Za-z]:\\[^\s]*"), "<path>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<num>"),
]
WILDCARD = "<*>"


def mask(message: str) -> str:
    for pattern, token in MASKS:
        message = pattern.sub(token, message)
    return message


@dataclass
class Cluster:
    tokens: list[str]
    size: int = 0
    lines: list[int] = field(default_factory=list)

    @property
    def template(self) -> str:
        return " ".join(self.tokens)


class Drain:
    """Groups masked token lists. `similarity` is the share of positions (ignoring wildcards in the
    template) that must agree for a line to join a cluster."""

    def __init__(self, *, similarity: float = 0.5) -> None:
        self.similarity = similarity
        self.leaves: dict[tuple[int, str], list[Cluster]] = {}
        self.clusters: list[Cluster] = []

    def add(self, tokens: list[str], line_index: int) -> Cluster:
        first = tokens[0] if tokens and not any(ch.isdigit() for ch in tokens[0]) else WILDCARD
        leaf = self.leaves.setdefault((len(tokens), first), [])
        best, best_score = None, -1.0
        for cluster in leaf:
            score = _similarity(cluster.tokens, tokens)
            if score > best_score:
                best, best_score = cluster, score
        if best is None or best_score < self.similarity:
            best = Cluster(tokens=list(tokens))
            leaf.append(best)
            self.clusters.append(best)
        else:
            best.tokens = [a if a == b else WILDCARD for a, b in zip(best.tokens, tokens, strict=True)]
        best.size += 1
        best.lines.append(line_index)
        return best


def _similarity(template: list[str], tokens: list[str]) -> float:
    if not template:
        return 1.0
    same = sum(1 for a, b in zip(template, tokens, strict=True) if a in (b, WILDCARD))
    return same / len(template)
