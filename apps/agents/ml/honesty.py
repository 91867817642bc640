"""Warnings a trained model owes its reader: a feature that alone predicts the label (a leak, or
the label under another name), a header row that looks like data, classes too uneven for accuracy
to mean much. Each warning names the column and the number behind it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier

from apps.agents.analysis.tabular import Column, parse_number

LEAK_ACCURACY = 0.98  # a single column this good is the answer, not evidence
IMBALANCE_RATIO = 10


def leakage(columns: list[Column], features: list[str], y: np.ndarray, rows: list[int]) -> list[dict]:
    """Features that predict the label on their own: cross-validated accuracy of a depth-3 tree
    on that column alone (codes for categories), against the majority-class baseline."""
    by_name = {c.name: c for c in columns}
    counts = Counter(y.tolist())
    baseline = max(counts.values()) / len(y)
    folds = min(5, min(counts.values()))
    out = []
    for name in features[:50]:
        values = [by_name[name].values[i] for i in rows]
        if by_name[name].numeric:
            x = np.array([[np.nan if v is None else float(v)] for v in values])
            x = np.nan_to_num(x, nan=np.nanmedian(x) if not np.isnan(x).all() else 0.0)
        else:
            codes = {value: code for code, value in enumerate(sorted({str(v) for v in values}))}
            x = np.array([[codes[str(v)]] for v in values], dtype=float)
            if len(codes) > 0.5 * len(values):
                continue  # an identifier: unique per row, "predicts" only what it has seen
        if folds >= 2:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
            score = float(
                cross_val_score(DecisionTreeClassifier(max_depth=3, random_state=0), x, y, cv=splitter).mean()
            )
        else:
            score = float(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y).score(x, y))
        if score >= LEAK_ACCURACY and score > baseline + 0.05:
            out.append(
                {
                    "kind": "label_leakage",
                    "column": name,
                    "accuracy_alone": round(score, 4),
                    "message": f"column {name!r} alone predicts the label with accuracy {score:.2f}: "
                    + (
                        "check that it is not derived from the label."
                        if by_name[name].numeric
                        else "a leak (or the label under another name)? Exclude it with exclude_columns."
                    ),
                }
            )
    return out


def _looks_like_value(name: str, column: Column) -> bool:
    if column.numeric and parse_number(name) is not None:
        return True
    if column.kind == "datetime":
        try:
            datetime.fromisoformat(name.strip())
            return True
        except ValueError:
            return False
    return column.kind in ("categorical", "boolean") and name in {str(v) for v in column.values}


def header_row(columns: list[Column]) -> list[dict]:
    """The header row looks like a data row: most column names parse as values of their column."""
    like_data = [c.name for c in columns if _looks_like_value(c.name, c)]
    if columns and len(like_data) >= max(1, (len(columns) + 1) // 2):
        return [
            {
                "kind": "header_looks_like_data",
                "columns": like_data,
                "message": f"the first row looks like data, not a header ({', '.join(like_data[:5])}); "
                "it was read as column names, so one row is missing and the names mean nothing.",
            }
        ]
    return []


def imbalance(class_counts: dict[str, int]) -> list[dict]:
    smallest, largest = min(class_counts.values()), max(class_counts.values())
    if largest / max(1, smallest) < IMBALANCE_RATIO:
        return []
    minority = min(class_counts, key=class_counts.__getitem__)
    return [
        {
            "kind": "class_imbalance",
            "ratio": round(largest / max(1, smallest), 1),
            "minority_class": minority,
            "message": f"classes are imbalanced ({largest}:{smallest}); accuracy mostly measures the "
            f"majority class: read macro F1 and the recall of {minority!r}.",
        }
    ]


def summary_line(warnings: list[dict[str, Any]]) -> str:
    return " Warnings: " + " ".join(w["message"] for w in warnings) if warnings else ""
