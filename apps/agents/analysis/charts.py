"""Charts of a table profile as PNG bytes (matplotlib's Agg backend: no display, thread-safe when
each chart has its own Figure and no pyplot state is used)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from apps.agents.analysis.tabular import Column

DPI = 96


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return out.getvalue()


def histograms(columns: list[Column], outliers: dict[str, dict], *, limit: int) -> bytes | None:
    numeric = [c for c in columns if c.numeric and any(v is not None for v in c.values)][:limit]
    if not numeric:
        return None
    cols = min(3, len(numeric))
    rows = -(-len(numeric) // cols)
    figure = Figure(figsize=(4.2 * cols, 3.0 * rows))
    for index, column in enumerate(numeric):
        axis = figure.add_subplot(rows, cols, index + 1)
        values = np.array([v for v in column.values if v is not None], dtype=float)
        axis.hist(values, bins=min(40, max(5, len(values) // 10)), color="#4c72b0")
        fences = outliers.get(column.name, {}).get("fences")
        if fences:
            for edge in (fences["low"], fences["high"]):
                axis.axvline(edge, color="#c44e52", linestyle="--", linewidth=1)
        axis.set_title(column.name, fontsize=10)
    figure.suptitle("Distributions (dashed: IQR outlier fences)", fontsize=11)
    return _png(figure)


def correlation_heatmap(correlation: dict[str, Any]) -> bytes | None:
    names = correlation["columns"]
    if len(names) < 2:
        return None
    matrix = np.array(
        [[np.nan if v is None else v for v in row] for row in correlation["matrix"]], dtype=float
    )
    size = max(4.0, 0.6 * len(names) + 2)
    figure = Figure(figsize=(size, size * 0.85))
    axis = figure.add_subplot(1, 1, 1)
    image = axis.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(len(names)), names, fontsize=8)
    if len(names) <= 12:
        for i in range(len(names)):
            for j in range(len(names)):
                if not np.isnan(matrix[i, j]):
                    axis.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_title("Pearson correlation")
    return _png(figure)


def trend_lines(trend: dict[str, Any], *, limit: int) -> bytes | None:
    series = [c for c in trend.get("columns", []) if len(c["series"]) >= 2][:limit]
    if not series:
        return None
    figure = Figure(figsize=(8, 2.4 * len(series)))
    for index, column in enumerate(series):
        axis = figure.add_subplot(len(series), 1, index + 1)
        points = column["series"]
        axis.plot(range(len(points)), [p["mean"] for p in points], color="#55a868", linewidth=1.2)
        step = max(1, len(points) // 8)
        axis.set_xticks(
            range(0, len(points), step), [p["period"] for p in points][::step], fontsize=7, rotation=30
        )
        axis.set_title(
            f"{column['column']} per {trend['period']} ({column['direction']}, r²={column['r2']})", fontsize=9
        )
    figure.tight_layout()
    return _png(figure)


def top_values(profile: dict[str, Any]) -> bytes | None:
    top = profile.get("top_values") or []
    if len(top) < 2:
        return None
    figure = Figure(figsize=(6, 0.35 * len(top) + 1.2))
    axis = figure.add_subplot(1, 1, 1)
    labels = [t["value"][:30] for t in top][::-1]
    axis.barh(labels, [t["count"] for t in top][::-1], color="#8172b2")
    axis.set_title(f"Top values of {profile['name']}", fontsize=10)
    return _png(figure)
