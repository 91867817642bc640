"""Anomaly detection: rows of a numeric table and lines of a log. For tables IsolationForest
(fixed seed) scores how easily a point is isolated; the explanation of each top anomaly is the
share of its robust deviation that each feature carries. For logs a line's template (Drain, after
masking) gives its rarity and logsignals what it says; the explanation names both."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from apps.agents.analysis.tabular import Column
from apps.agents.ml.features import contributions, numeric_matrix, robust_scale
from apps.agents.ml.logsignals import content_signals
from apps.agents.ml.logtemplates import Drain, mask


def _forest_scores(
    values: np.ndarray, *, seed: int, contamination: float | str
) -> tuple[np.ndarray, np.ndarray]:
    """(anomaly score per row, flagged). With a given contamination the forest's own threshold
    flags; with "auto" a row is flagged when its score is itself an outlier among the scores
    (robust z > 3.5), since the forest's fixed "auto" offset flags far too many in clean data."""
    forest = IsolationForest(n_estimators=200, contamination=contamination, random_state=seed, n_jobs=1)
    forest.fit(values)
    scores = -forest.score_samples(values)
    if contamination != "auto":
        return scores, forest.predict(values) == -1
    median = np.median(scores)
    scale = robust_scale(scores.reshape(-1, 1), np.array([median]))[0]
    return scores, (scores - median) / scale > 3.5


def table_anomalies(
    columns: list[Column], *, method: str, seed: int, contamination: float | str, top: int, exclude: set[str]
) -> dict[str, Any]:
    matrix = numeric_matrix(columns, exclude=exclude)
    if not matrix.names:
        return {"error": "no numeric columns to score"}
    z = matrix.robust_z()
    if method == "isolation_forest" and len(matrix.values) >= 16:
        scores, flagged = _forest_scores(z, seed=seed, contamination=contamination)
    else:
        method = "robust_z"
        scores = np.sqrt((z**2).mean(axis=1))
        flagged = np.abs(z).max(axis=1) > 3.5
    order = np.argsort(-scores, kind="stable")[:top]
    return {
        "method": method,
        "features": matrix.names,
        "ignored_columns": matrix.ignored,
        "rows_scored": len(scores),
        "flagged": int(flagged.sum()),
        "top": [
            {
                "rank": rank + 1,
                "row": int(i),
                "score": round(float(scores[i]), 4),
                "flagged": bool(flagged[i]),
                "explanation": contributions(z[i], matrix.names, matrix.values[i], matrix.median),
            }
            for rank, i in enumerate(order)
        ],
        "score_quantiles": {
            q: round(float(np.quantile(scores, p)), 4)
            for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
    }


# --------------------------------------------------------------------------- logs

_TIMESTAMP = re.compile(
    r"^(?:(?P<syslog>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?))\s*"
)
_PROGRAM = re.compile(r"^(?:(?P<host>[\w.-]+)\s+)?(?P<program>[\w./-]+)(?:\[(?P<pid>\d+)\])?:\s")
# How much of a line's score is rarity and how much is what it says: a routine line seen once
# scores 0.35, a known-bad command in a common template 0.65 and more.
RARITY_WEIGHT, CONTENT_WEIGHT = 0.35, 0.65
FLAG_AT = 0.5


def parse_line(line: str) -> dict[str, Any]:
    rest, stamp = line, None
    if match := _TIMESTAMP.match(rest):
        stamp = match.group("syslog") or match.group("iso")
        rest = rest[match.end() :]
    program = host = ""
    if match := _PROGRAM.match(rest):
        program, host = match.group("program"), match.group("host") or ""
        rest = rest[match.end() :]
    return {"timestamp": stamp, "host": host, "program": re.sub(r"\d+", "<num>", program), "message": rest}


def log_anomalies(
    text: str, *, seed: int, contamination: float | str, top: int, max_lines: int
) -> dict[str, Any]:
    """Rank log lines by rarity of their template (Drain, after masking variable parts) and by
    what they say (logsignals). `seed` and `contamination` are the table method's knobs; the log
    score is deterministic and flags lines scoring >= FLAG_AT."""
    lines = [(number, line) for number, line in enumerate(text.splitlines()) if line.strip()][:max_lines]
    if len(lines) < 10:
        return {"error": f"{len(lines)} log line(s): too few to learn what is normal"}
    parsed = [parse_line(line) for _, line in lines]
    drain = Drain()
    clusters = []
    for index, p in enumerate(parsed):
        tokens = ([p["program"] + ":"] if p["program"] else []) + mask(p["message"]).split()
        clusters.append(drain.add(tokens or ["<empty>"], index))
    n = len(parsed)
    scored = []
    for index, ((_, line), cluster) in enumerate(zip(lines, clusters, strict=True)):
        rarity = math.log(n / cluster.size) / math.log(n)
        signals = content_signals(parsed[index]["message"] or line)
        content = min(1.0, signals[0]["weight"] + 0.1 * (len(signals) - 1)) if signals else 0.0
        score = RARITY_WEIGHT * rarity + CONTENT_WEIGHT * content
        explanation = [
            {"feature": f"content: {s['signal']}", "weight": s["weight"], "match": s["match"]}
            for s in signals
        ]
        explanation.append(
            {"feature": "template_rarity", "value": round(rarity, 3), "template_count": cluster.size}
        )
        if rarity * RARITY_WEIGHT > content * CONTENT_WEIGHT:
            explanation.insert(0, explanation.pop())  # the larger share first
        scored.append((score, index, explanation))
    order = sorted(scored, key=lambda s: (-s[0], s[1]))
    templates = sorted(drain.clusters, key=lambda c: (-c.size, c.template))
    return {
        "method": "drain_templates+content",
        "features": ["template_rarity", "content"],
        "lines_scored": n,
        "flagged": sum(1 for s in scored if s[0] >= FLAG_AT),
        "templates": len(drain.clusters),
        "top_templates": [{"template": c.template[:300], "count": c.size} for c in templates[:10]],
        "rare_templates": [{"template": c.template[:300], "count": c.size} for c in templates if c.size == 1][
            :50
        ],
        "top": [
            {
                "rank": rank + 1,
                "line": lines[index][0],
                "text": lines[index][1][:1000],
                "score": round(score, 4),
                "flagged": score >= FLAG_AT,
                "template": clusters[index].template[:300],
                "template_count": clusters[index].size,
                "timestamp": parsed[index]["timestamp"],
                "explanation": explanation,
            }
            for rank, (score, index, explanation) in enumerate(order[:top])
        ],
    }
