"""Offline text analysis: sentences with offsets, language by stopword profiles, statistics,
TF-IDF keywords, a TextRank extractive summary, and the quotes that support a key point."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

_STOPWORD_TEXT = {
    "en": """
        a about after all also an and any are as at be because been but by can could did do does
        for from had has have he her him his how i if in into is it its just may me more most my
        no not of on one or our out over she so some such than that the their them then there
        these they this those to up us was we were what when where which while who will with would
        you your
    """,
    "fr": """
        a au aux avec ce ces cette dans de des du elle en est et été il ils je la le les leur lui
        mais me même mes moi mon ne nos notre nous on ou où par pas pour qu que qui sa sans se ses
        son sont sur ta te tes toi ton tu un une vos votre vous y était être ont avait
    """,
    "de": """
        aber als am an auch auf aus bei bin bis da dass das dem den der des die dies doch du ein
        eine einem einen einer es für hat hatte ich ihr im in ist ja kein man mit nach nicht noch
        nur oder sich sie sind so über um und uns von vor war wir wird wie zu zum zur haben werden
        wurde
    """,
    "es": """
        a al algo como con de del donde el ella ellos en entre era es esta este están fue ha hay
        la las le lo los más me mi muy no nos o para pero por que se sin sobre su sus también te
        tiene un una uno y ya son ser han
    """,
    "it": """
        a ad al alla alle anche che chi ci come con da dal dalla de dei del della delle di e è gli
        ha hanno i il in io la le lei lo loro ma mi ne nel nella non o per più questo quello se si
        sono su tra tu un una uno era
    """,
    "pt": """
        a ao aos as com como da das de do dos e é ela ele eles em entre era essa esse está foi há
        isso já mais mas me muito na nas não no nos o os ou para pela pelo por que se sem ser seu
        sua são também um uma
    """,
    "nl": """
        aan al als bij dan dat de den der deze die dit door een en er had heb heeft het hij hoe in
        is ja je kan maar me met mij na naar niet nog nu of om onder ons ook op over te tot u uit
        van voor was wat we wel werd wie wij zal ze zich zij zijn
    """,
}
STOPWORDS = {lang: text.split() for lang, text in _STOPWORD_TEXT.items()}
STOPWORD_SETS = {lang: frozenset(words) for lang, words in STOPWORDS.items()}
ALL_STOPWORDS = frozenset().union(*STOPWORD_SETS.values())
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
}

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]”’]*\s+|\n\s*\n")
_ABBREVIATIONS = {
    "e.g.",
    "i.e.",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "prof.",
    "inc.",
    "ltd.",
    "vs.",
    "etc.",
    "no.",
    "fig.",
    "st.",
    "jr.",
    "sr.",
    "u.s.",
    "approx.",
    "dept.",
}


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: int
    end: int


def words(text: str) -> list[str]:
    return [w.lower().strip("'’-") for w in _WORD.findall(text)]


def sentences(text: str) -> list[Sentence]:
    """Sentences with their offsets in `text` (text[start:end] == sentence text).

    Paragraph- and wrap-aware: blank lines end a sentence; a single line break inside a paragraph
    is a hard wrap, not an end (GPL-3 is 209 sentences, not 595 lines). Inside a paragraph a new
    segment starts at a list item and after a heading line (short, unpunctuated, first)."""
    out: list[Sentence] = []
    for start, end in _segments(text):
        _split_segment(out, text, start, end)
    return out


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)]", re.I)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)]|\(?[a-z]\)|\(?[ivx]{1,4}\))[ \t]+", re.I)


def _segments(text: str) -> list[tuple[int, int]]:
    segments: list[tuple[int, int]] = []
    position = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        segments += _paragraph_segments(text, position, end)
        position = match.end() if match else len(text)
    return segments


def _paragraph_segments(text: str, start: int, end: int) -> list[tuple[int, int]]:
    lines, offset = [], start
    for line in text[start:end].split("\n"):
        lines.append((offset, offset + len(line), line))
        offset += len(line) + 1
    lines = [item for item in lines if item[2].strip()]
    if not lines:
        return []
    widest = max(len(line.strip()) for _, _, line in lines)
    cuts = set()
    first = lines[0][2].strip()
    if (
        len(lines) > 1
        and not first.endswith((".", "!", "?", ":", ",", ";"))
        and (len(first) < 0.6 * widest or first.isupper())
    ):
        cuts.add(1)  # a heading over its paragraph
    cuts |= {i for i, (_, _, line) in enumerate(lines) if i and _LIST_ITEM.match(line)}
    bounds = [0, *sorted(cuts), len(lines)]
    return [(lines[a][0], lines[b - 1][1]) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


def _split_segment(out: list[Sentence], text: str, start: int, end: int) -> None:
    position = start
    for match in _SENTENCE_END.finditer(text, start, end):
        candidate = text[position : match.start()].strip()
        last_word = candidate.rsplit(None, 1)[-1].lower() if candidate else ""
        if candidate and (last_word in _ABBREVIATIONS or _ENUMERATOR.fullmatch(candidate)):
            continue  # "e.g. the", "0. Definitions."
        _append(out, text, position, match.start())
        position = match.end()
    _append(out, text, position, end)


def _append(out: list[Sentence], text: str, start: int, end: int) -> None:
    raw = text[start:end]
    stripped = raw.strip()
    if stripped:
        begin = start + len(raw) - len(raw.lstrip())
        out.append(Sentence(len(out), stripped, begin, begin + len(stripped)))


def detect_language(text: str) -> dict:
    tokens = words(text[:200_000])
    if len(tokens) < 5:
        return {"code": "und", "name": "undetermined", "confidence": 0.0, "scores": {}}
    counts = Counter(tokens)
    scores = {lang: sum(counts[w] for w in stop) / len(tokens) for lang, stop in STOPWORD_SETS.items()}
    best = max(scores, key=scores.__getitem__)
    ordered = sorted(scores.values(), reverse=True)
    if ordered[0] < 0.05:
        return {"code": "und", "name": "undetermined", "confidence": 0.0, "scores": _round(scores)}
    margin = (ordered[0] - ordered[1]) / ordered[0]
    return {
        "code": best,
        "name": LANGUAGE_NAMES[best],
        "confidence": round(min(1.0, 0.5 + margin), 3),
        "scores": _round(scores),
    }


def _round(scores: dict) -> dict:
    return {k: round(v, 4) for k, v in sorted(scores.items(), key=lambda kv: -kv[1])}


def statistics(text: str, sents: list[Sentence], language: str) -> dict:
    tokens = words(text)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    unique = len(set(tokens))
    stats = {
        "characters": len(text),
        "words": len(tokens),
        "unique_words": unique,
        "sentences": len(sents),
        "paragraphs": len(paragraphs),
        "avg_sentence_words": round(len(tokens) / len(sents), 2) if sents else 0.0,
        "avg_word_length": round(sum(map(len, tokens)) / len(tokens), 2) if tokens else 0.0,
        "lexical_diversity": round(unique / len(tokens), 3) if tokens else 0.0,
        "reading_time_minutes": round(len(tokens) / 230, 1),
    }
    if language == "en" and tokens and sents:
        syllables = sum(_syllables(w) for w in tokens)
        stats["flesch_reading_ease"] = round(
            206.835 - 1.015 * len(tokens) / len(sents) - 84.6 * syllables / len(tokens), 1
        )
    return stats


def _syllables(word: str) -> int:
    groups = re.findall(r"[aeiouy]+", word.lower())
    count = len(groups) - (1 if word.lower().endswith("e") and len(groups) > 1 else 0)
    return max(1, count)


def content_terms(text: str, stop: frozenset[str]) -> list[str]:
    return [w for w in words(text) if len(w) > 2 and w not in stop]


def keywords(sents: list[Sentence], *, stop: frozenset[str], top: int = 15) -> list[dict]:
    """TF-IDF with sentences as documents: a term is key when it is frequent in the text but not
    spread evenly over every sentence. Bigrams of content words count when they recur."""
    docs = [_terms_with_bigrams(s.text, stop) for s in sents]
    n = len(docs)
    if not n:
        return []
    tf: Counter = Counter(t for doc in docs for t in doc)
    df: Counter = Counter(t for doc in docs for t in set(doc))
    scored = []
    for term, count in tf.items():
        if " " in term and count < 2:
            continue
        idf = math.log((1 + n) / (1 + df[term])) + 1
        boost = 1.5 if " " in term else 1.0
        scored.append((count * idf * boost, term, count))
    scored.sort(key=lambda t: (-t[0], t[1]))
    chosen: list[dict] = []
    for score, term, count in scored:
        # a unigram already inside a chosen bigram adds nothing
        if " " not in term and any(term in c["term"].split() for c in chosen if " " in c["term"]):
            continue
        chosen.append({"term": term, "score": round(score, 3), "count": count})
        if len(chosen) >= top:
            break
    return chosen


def _terms_with_bigrams(text: str, stop: frozenset[str]) -> list[str]:
    tokens = words(text)
    terms = [t for t in tokens if len(t) > 2 and t not in stop]
    bigrams = [
        f"{a} {b}"
        for a, b in zip(tokens, tokens[1:], strict=False)
        if a not in stop and b not in stop and len(a) > 2 and len(b) > 2
    ]
    return terms + bigrams


def tfidf_matrix(texts: list[str], stop: frozenset[str]) -> tuple[np.ndarray, list[str]]:
    """Row-normalised TF-IDF vectors (numpy; small inputs, no sklearn needed here)."""
    docs = [content_terms(t, stop) for t in texts]
    vocabulary = sorted({t for d in docs for t in d})
    index = {t: i for i, t in enumerate(vocabulary)}
    matrix = np.zeros((len(docs), len(vocabulary)))
    for row, doc in enumerate(docs):
        for term, count in Counter(doc).items():
            matrix[row, index[term]] = count
    df = (matrix > 0).sum(axis=0)
    idf = np.log((1 + len(docs)) / (1 + df)) + 1
    matrix = matrix * idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return matrix / norms, vocabulary


def extractive_summary(sents: list[Sentence], *, stop: frozenset[str], count: int) -> list[dict]:
    """Centrality over TF-IDF cosine similarity (continuous-degree LexRank): a sentence is central
    when its content recurs across many others; a faint lead bias breaks ties. Degree rather than
    PageRank because PageRank's row normalisation lets two sentences that only resemble each
    other outrank the text's real subject in short texts. Returns the top `count` sentences in
    document order, each with its score."""
    candidates = [s for s in sents if len(words(s.text)) >= 4]
    content = [s for s in candidates if not is_boilerplate(s.text) and not _heading_like(s.text)]
    if len(content) >= min(count, len(candidates)):
        candidates = content  # a licence summarised as itself keeps its licence sentences
    if not candidates:
        return []
    vectors, _ = tfidf_matrix([s.text for s in candidates], stop)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0.0)
    n = len(candidates)
    scores = similarity.sum(axis=1) + 0.01 * (1 - np.arange(n) / n)
    order = np.argsort(-scores, kind="stable")[:count]
    chosen = sorted(order.tolist(), key=lambda i: candidates[i].start)
    return [{"sentence": candidates[i], "score": round(float(scores[i]), 4)} for i in chosen]


_URL_IN_TEXT = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+", re.I)
_BOILERPLATE = re.compile(
    r"\b(?:badge|shields\.io|codecov|build (?:passing|failing|status)|ci status|pypi version|"
    r"skip to (?:main )?content|table of contents|back to top|all rights reserved|copyright \(c\)|"
    r"spdx-license-identifier|licensed under the|permission is hereby granted|"
    r"provided (?:by the copyright holders and contributors )?[\"“]?as is|"
    r"this (?:program|library|file) is free software|without (?:any )?warranty|cookie (?:policy|settings))",
    re.I,
)


def _heading_like(sentence: str) -> bool:
    return len(words(sentence)) < 8 and not sentence.rstrip("\"')”’").endswith((".", "!", "?"))


def is_boilerplate(sentence: str) -> bool:
    """Badges, navigation and licence headers: text around a document, not what it says. A line
    that is mostly links (a badge row rendered from Markdown) counts too."""
    urls = sum(len(m.group(0)) for m in _URL_IN_TEXT.finditer(sentence))
    if urls > 0.35 * len(sentence):
        return True
    if sentence.count(" | ") >= 2 or sentence.count(" · ") >= 2:
        return True  # a navigation bar
    return bool(_BOILERPLATE.search(sentence))


def supporting_quotes(
    point: str,
    sents: list[Sentence],
    *,
    stop: frozenset[str],
    exclude: int | None = None,
    limit: int = 2,
    threshold: float = 0.1,
) -> list[dict]:
    """The source sentences that best support `point` (cosine over TF-IDF), with offsets."""
    sents = [s for s in sents if not is_boilerplate(s.text)] or sents
    if not sents:
        return []
    vectors, _ = tfidf_matrix([point] + [s.text for s in sents], stop)
    scores = vectors[1:] @ vectors[0]
    ranked = [
        i for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold and sents[i].index != exclude
    ]
    return [_quote(sents[i], float(scores[i])) for i in ranked[:limit]]


def _quote(sentence: Sentence, score: float) -> dict:
    return {
        "text": sentence.text,
        "start": sentence.start,
        "end": sentence.end,
        "similarity": round(score, 3),
    }
