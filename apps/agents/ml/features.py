"""Numeric feature matrices from typed columns, robust scaling and the per-feature deviations that
explain why a row stands out."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from apps.agents.analysis.tabular import Column


@dataclass
class Matrix:
    names: list[str]
    values: np.ndarray  # rows x features, missing filled with the column median
    median: np.ndarray
    scale: np.ndarray  # MAD-based scale (IQR or std where the MAD is zero)
    ignored: list[str]

    def robust_z(self) -> np.ndarray:
        return (self.values - self.median) / self.scale


def numeric_matrix(columns: list[Column], *, exclude: Set[str] = frozenset()) -> Matrix:
    usable = [c for c in columns if c.name not in exclude and (c.numeric or c.kind == "boolean")]
    ignored = [c.name for c in columns if c not in usable and c.name not in exclude]
    usable = [c for c in usable if len({v for v in c.values if v is not None}) > 1]
    if not usable:
        return Matrix(
            [], np.zeros((len(columns[0].values) if columns else 0, 0)), np.zeros(0), np.ones(0), ignored
        )
    raw = np.array([[np.nan if v is None else float(v) for v in c.values] for c in usable], dtype=float).T
    median = np.nanmedian(raw, axis=0)
    filled = np.where(np.isnan(raw), median, raw)
    return Matrix([c.name for c in usable], filled, median, robust_scale(filled, median), ignored)


def robust_scale(values: np.ndarray, median: np.ndarray) -> np.ndarray:
    mad = np.median(np.abs(values - median), axis=0) / 0.6745
    q1, q3 = np.quantile(values, [0.25, 0.75], axis=0)
    fallback = np.where((q3 - q1) > 0, (q3 - q1) / 1.349, values.std(axis=0))
    scale = np.where(mad > 0, mad, fallback)
    return np.where(scale > 0, scale, 1.0)


def contributions(
    z_row: np.ndarray, names: list[str], raw_row: np.ndarray, median: np.ndarray, *, top: int = 3
) -> list[dict]:
    """Each feature's share of the row's total absolute robust deviation, largest first."""
    magnitude = np.abs(z_row)
    total = float(magnitude.sum()) or 1.0
    order = np.argsort(-magnitude, kind="stable")[:top]
    return [
        {
            "feature": names[i],
            "value": _r(raw_row[i]),
            "median": _r(median[i]),
            "robust_z": round(float(z_row[i]), 2),
            "share": round(float(magnitude[i]) / total, 3),
        }
        for i in order
        if magnitude[i] > 0
    ]


def _r(value: float) -> float:
    return round(float(value), 4) if abs(value) < 1e6 else round(float(value), 1)
