"""The built-in offline provider: deterministic, no network, no model weights.

It does not pretend to be a language model. `generate()` answers with an extractive summary (the
highest-scoring sentences of the input, in their original order) plus keywords and entities found
by pattern, and says so in its output. `embed()` hashes word and character n-grams into a fixed
number of dimensions (the "hashing trick") and L2-normalises the result, so similar texts get
similar vectors and AMAS has working semantic search without any vendor.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

BUILTIN_EMBEDDING_DIM = 384
BUILTIN_MODEL = "builtin-extractive"
BUILTIN_EMBEDDING_MODEL = f"builtin-hash-{BUILTIN_EMBEDDING_DIM}"
LABEL = "[AMAS built-in offline provider: extractive summary and pattern extraction, no language model]"
DEFAULT_SENTENCES = 5

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves one two may might must shall us via per within without
    upon among across however therefore thus yet still""".split()  # noqa: SIM905 - readable
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")
_AT_MOST = re.compile(r"(?:at most|no more than|in|up to)\s+(\d{1,2})\s+sentences?", re.IGNORECASE)

# Entity patterns, most specific first; a span matched by one is not matched again by a later one.
_ENTITY_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("url", re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.IGNORECASE)),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("cve", re.compile(r"\bCVE-\d{4}-\d{4,7}\b", re.IGNORECASE)),
    ("hash", re.compile(r"\b(?:[A-Fa-f0-9]{64}|[A-Fa-f0-9]{40}|[A-Fa-f0-9]{32})\b")),
    ("ip", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    (
        "domain",
        re.compile(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,24})\b", re.IGNORECASE),
    ),
    ("name", re.compile(r"\b(?:[A-Z][a-z]+(?:\s+(?:of|de|van|von|the)\s+|\s+)){1,3}[A-Z][a-z]+\b")),
]
_NOT_TLDS = frozenset({"txt", "exe", "dll", "pdf", "doc", "docx", "py", "js", "json", "csv", "log", "zip"})


@dataclass
class Extraction:
    summary_sentences: list[str]
    keywords: list[str]
    entities: list[dict[str, str]] = field(default_factory=list)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def count_tokens(text: str) -> int:
    """A rough token count (words and punctuation), for the ledger and rate limits."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def split_sentences(text: str) -> list[str]:
    text = re.sub(r"[ \t]+", " ", text.strip())
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p.replace("\n", " ") for p in parts if p and _WORD.search(p)]


def summarise(text: str, max_sentences: int = DEFAULT_SENTENCES) -> list[str]:
    """The `max_sentences` most representative sentences, in the order they appear.

    A sentence scores the mean weight of its content words, where a word weighs its frequency in
    the whole text (so sentences about what the text is mostly about win); the first sentence gets
    a small lead bonus, as openings usually state the subject."""
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return sentences
    content = [[w for w in words(s) if w not in STOPWORDS and len(w) > 2] for s in sentences]
    frequency = Counter(w for ws in content for w in ws)
    top = max(frequency.values(), default=1)
    scores = []
    for index, ws in enumerate(content):
        if not ws:
            scores.append((0.0, index))
            continue
        score = sum(frequency[w] / top for w in ws) / math.sqrt(len(ws))
        if index == 0:
            score *= 1.15
        scores.append((score, index))
    chosen = sorted(sorted(scores, key=lambda s: (-s[0], s[1]))[:max_sentences], key=lambda s: s[1])
    return [sentences[i] for _, i in chosen]


def keywords(text: str, limit: int = 10) -> list[str]:
    tokens = [w for w in words(text) if w not in STOPWORDS and len(w) > 2 and not w.isdigit()]
    counts = Counter(tokens)
    bigrams = Counter(
        f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False) if a != b
    )  # adjacent content words
    scored: dict[str, float] = {w: float(c) for w, c in counts.items()}
    for phrase, c in bigrams.items():
        if c >= 2:
            scored[phrase] = c * 1.5
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
    result: list[str] = []
    for term, _ in ranked:
        if any(term in chosen.split() for chosen in result if " " in chosen):
            continue
        result.append(term)
        if len(result) == limit:
            break
    return result


def entities(text: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    taken: list[tuple[int, int]] = []
    seen: set[tuple[str, str]] = set()
    for kind, pattern in _ENTITY_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(s < end and start < e for s, e in taken):
                continue
            value = match.group(0).rstrip(".,;:")
            if kind == "domain":
                if value.rsplit(".", 1)[-1].lower() in _NOT_TLDS or value.replace(".", "").isdigit():
                    continue
                value = value.lower()
            if kind in ("hash", "cve", "email"):
                value = value.lower() if kind != "cve" else value.upper()
            taken.append((start, end))
            candidates = [(kind, value)]
            if kind in ("url", "email"):  # the host is an entity of its own (pivot on the domain)
                host = (
                    re.split(r"[/:?#]", value.split("://", 1)[-1])[0]
                    if kind == "url"
                    else value.split("@")[1]
                )
                if not host.replace(".", "").isdigit():
                    candidates.append(("domain", host.lower()))
            for key in candidates:
                if key not in seen:
                    seen.add(key)
                    found.append({"kind": key[0], "value": key[1]})
    return found


def extract(text: str, max_sentences: int = DEFAULT_SENTENCES) -> Extraction:
    return Extraction(summarise(text, max_sentences), keywords(text), entities(text))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def requested_sentences(messages: list[dict[str, Any]], default: int = DEFAULT_SENTENCES) -> int:
    for message in messages:
        match = _AT_MOST.search(_content_text(message.get("content")))
        if match:
            return max(1, min(50, int(match.group(1))))
    return default


def source_text(messages: list[dict[str, Any]]) -> str:
    """What to work on: the user messages (the instructions in system messages are not content)."""
    user = [_content_text(m.get("content")) for m in messages if m.get("role", "user") == "user"]
    return "\n\n".join(t for t in user if t.strip())


def generate(messages: list[dict[str, Any]], *, json_schema: dict[str, Any] | None = None) -> str:
    text = source_text(messages)
    result = extract(text, requested_sentences(messages))
    if json_schema is not None:
        return json.dumps(_fill_schema(json_schema, result), sort_keys=True)
    lines = [LABEL, "", "Summary:"]
    lines.append(" ".join(result.summary_sentences) if result.summary_sentences else "(no text to summarise)")
    lines.append("")
    lines.append("Keywords: " + (", ".join(result.keywords) or "-"))
    lines.append("Entities: " + ("; ".join(f"{e['kind']} {e['value']}" for e in result.entities) or "-"))
    return "\n".join(lines)


def _fill_schema(schema: dict[str, Any], result: Extraction) -> Any:
    """Best effort: fill a JSON schema's properties from what the extraction found, by name and type.
    Unknown properties get empty values of their type; `provider` says who answered if it exists."""
    known: dict[str, Any] = {
        "summary": " ".join(result.summary_sentences),
        "keywords": result.keywords,
        "entities": result.entities,
        "sentences": result.summary_sentences,
        "provider": "builtin",
        "note": LABEL,
    }
    if schema.get("type") != "object" or "properties" not in schema:
        return {"summary": known["summary"], "keywords": result.keywords, "entities": result.entities}
    out: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if name in known:
            value = known[name]
            if kind == "string" and not isinstance(value, str):
                value = ", ".join(str(v) for v in value)
            out[name] = value
        else:
            out[name] = {
                "string": "",
                "array": [],
                "object": {},
                "number": 0,
                "integer": 0,
                "boolean": False,
            }.get(kind if isinstance(kind, str) else "")
    return out


# --------------------------------------------------------------------------- embeddings


@lru_cache(maxsize=65536)
def _feature(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % BUILTIN_EMBEDDING_DIM, (1.0 if value >> 63 else -1.0)


@lru_cache(maxsize=32768)
def _word_features(word: str) -> tuple[tuple[int, float], ...]:
    """A word contributes itself and its character 3- to 5-grams (with boundary marks), so
    inflections and typos still land near each other."""
    feats: dict[int, float] = {}
    index, sign = _feature("w:" + word)
    feats[index] = feats.get(index, 0.0) + sign
    padded = f"<{word}>"
    grams = [padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    if grams:
        weight = 1.0 / math.sqrt(len(grams))
        for gram in grams:
            index, sign = _feature("c:" + gram)
            feats[index] = feats.get(index, 0.0) + sign * weight
    return tuple(feats.items())


def embed_one(text: str) -> list[float]:
    vector = [0.0] * BUILTIN_EMBEDDING_DIM
    tokens = words(text)
    counts = Counter(tokens)
    for word, count in counts.items():
        tf = 1.0 + math.log(count)
        scale = tf * (0.4 if word in STOPWORDS else 1.0)
        for index, value in _word_features(word):
            vector[index] += value * scale
    for (a, b), count in Counter(zip(tokens, tokens[1:], strict=False)).items():
        index, sign = _feature(f"b:{a} {b}")
        vector[index] += sign * 0.5 * (1.0 + math.log(count))
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        return vector
    return [v / norm for v in vector]


def embed(texts: list[str]) -> list[list[float]]:
    return [embed_one(t) for t in texts]
