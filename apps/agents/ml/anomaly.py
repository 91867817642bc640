"""Anomaly detection: rows of a numeric table and lines of a log. IsolationForest (fixed seed)
scores how easily a point is isolated; the explanation of each top anomaly is the share of its
robust deviation that each feature carries."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from apps.agents.analysis.tabular import Column
from apps.agents.ml.features import contributions, numeric_matrix, robust_scale


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
_VARIABLE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{16,}\b", re.I), "<hex>"),
    (re.compile(r"(?<![\w/])/[\w./-]+"), "<path>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<num>"),
]
_ALARM = re.compile(
    r"\b(error|fail(?:ed|ure)?|fatal|panic|critical|denied|killed|segfault|root|out of memory|"
    r"unauthori[sz]ed|invalid)\b",
    re.I,
)
LOG_FEATURES = ["template_rarity", "program_rarity", "length", "digit_ratio", "symbol_ratio", "alarm_words"]


def parse_line(line: str) -> dict[str, Any]:
    rest, stamp = line, None
    if match := _TIMESTAMP.match(rest):
        stamp = match.group("syslog") or match.group("iso")
        rest = rest[match.end() :]
    program = host = ""
    if match := _PROGRAM.match(rest):
        program, host = match.group("program"), match.group("host") or ""
        rest = rest[match.end() :]
    template = rest
    for pattern, token in _VARIABLE:
        template = pattern.sub(token, template)
    program = re.sub(r"\d+", "<num>", program)
    return {
        "timestamp": stamp,
        "host": host,
        "program": program,
        "message": rest,
        "template": f"{program}: {template.strip()}",
    }


def log_anomalies(
    text: str, *, seed: int, contamination: float | str, top: int, max_lines: int
) -> dict[str, Any]:
    lines = [(number, line) for number, line in enumerate(text.splitlines()) if line.strip()][:max_lines]
    if len(lines) < 10:
        return {"error": f"{len(lines)} log line(s): too few to learn what is normal"}
    parsed = [parse_line(line) for _, line in lines]
    templates = Counter(p["template"] for p in parsed)
    programs = Counter(p["program"] for p in parsed)
    n = len(parsed)
    rows = []
    for (_, line), p in zip(lines, parsed, strict=True):
        message = p["message"] or line
        rows.append(
            [
                -math.log(templates[p["template"]] / n),
                -math.log(programs[p["program"]] / n),
                len(message),
                sum(ch.isdigit() for ch in message) / max(1, len(message)),
                sum(not ch.isalnum() and not ch.isspace() for ch in message) / max(1, len(message)),
                len(_ALARM.findall(message)),
            ]
        )
    values = np.array(rows, dtype=float)
    median = np.median(values, axis=0)
    z = (values - median) / robust_scale(values, median)
    scores, flagged = _forest_scores(z, seed=seed, contamination=contamination)
    order = np.argsort(-scores, kind="stable")[:top]
    return {
        "method": "isolation_forest",
        "features": LOG_FEATURES,
        "lines_scored": n,
        "flagged": int(flagged.sum()),
        "templates": len(templates),
        "top_templates": [{"template": t[:300], "count": c} for t, c in templates.most_common(10)],
        "rare_templates": [{"template": t[:300], "count": c} for t, c in templates.items() if c == 1][:50],
        "top": [
            {
                "rank": rank + 1,
                "line": lines[i][0],
                "text": lines[i][1][:1000],
                "score": round(float(scores[i]), 4),
                "flagged": bool(flagged[i]),
                "template": parsed[i]["template"][:300],
                "template_count": templates[parsed[i]["template"]],
                "timestamp": parsed[i]["timestamp"],
                "explanation": contributions(z[i], LOG_FEATURES, values[i], median),
            }
            for rank, i in enumerate(order)
        ],
    }
