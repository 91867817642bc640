"""Profiling a table: column types, missing values, distribution statistics, top values,
correlations, outliers (IQR and robust z-score) and the trend of numeric columns over a date
column."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from apps.agents.analysis.inputs import Table

_TRUE = {"true", "yes", "y", "t", "1"}
_FALSE = {"false", "no", "n", "f", "0"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%b %d %Y",
)
ROBUST_Z_LIMIT = 3.5  # Iglewicz & Hoaglin's cut-off for the modified z-score


@dataclass
class Column:
    name: str
    kind: str  # integer | float | boolean | datetime | categorical | text | empty
    values: list[Any]  # parsed, None where missing
    missing: int

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "float")


def parse_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if _NUMBER.match(text):
            return float(text)
    return None


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or len(value) < 6 or len(value) > 40:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)  # made aware below
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def type_columns(table: Table) -> list[Column]:
    """A type per column: the most specific one that at least 95% of its non-missing cells fit."""
    columns = []
    for index, name in enumerate(table.columns):
        raw = [row[index] if index < len(row) else None for row in table.rows]
        present = [v for v in raw if v is not None and v != ""]
        missing = len(raw) - len(present)
        kind, parsed = _infer(present)
        mapping = iter(parsed)
        values = [next(mapping) if (v is not None and v != "") else None for v in raw]
        columns.append(Column(name, kind, values, missing))
    return columns


def _infer(present: list[Any]) -> tuple[str, list[Any]]:
    if not present:
        return "empty", []
    sample = present[:5000]
    need = 0.95 * len(sample)
    lowered = [str(v).strip().lower() for v in sample]
    if all(isinstance(v, bool) for v in sample) or (
        sum(v in _TRUE | _FALSE for v in lowered) >= need
        and len(set(lowered)) <= 2
        and not _all_digits(lowered)
    ):
        return "boolean", [str(v).strip().lower() in _TRUE if not isinstance(v, bool) else v for v in present]
    numbers = [parse_number(v) for v in sample]
    if sum(n is not None for n in numbers) >= need:
        parsed = [parse_number(v) for v in present]
        integral = all(n is None or n.is_integer() for n in parsed) and not any(
            isinstance(v, str) and "." in v for v in sample
        )
        return ("integer" if integral else "float"), parsed
    dates = [parse_datetime(v) for v in sample]
    if sum(d is not None for d in dates) >= need:
        return "datetime", [parse_datetime(v) for v in present]
    distinct = len(set(lowered))
    average_length = sum(map(len, lowered)) / len(lowered)
    if distinct <= max(20, len(sample) // 20) and average_length < 60:
        return "categorical", [str(v) for v in present]
    return "text", [str(v) for v in present]


def _all_digits(values: list[str]) -> bool:
    return all(v in ("0", "1") for v in values)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    q = np.quantile(values, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    return dict(zip(["min", "p05", "q1", "median", "q3", "p95", "max"], (float(x) for x in q), strict=True))


def column_profile(column: Column, *, total_rows: int) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "name": column.name,
        "type": column.kind,
        "missing": column.missing,
        "missing_ratio": round(column.missing / total_rows, 4) if total_rows else 0.0,
    }
    present = [v for v in column.values if v is not None]
    profile["distinct"] = len({str(v) for v in present})
    if column.numeric and present:
        array = np.array(present, dtype=float)
        profile.update({k: _r(v) for k, v in _quantiles(array).items()})
        profile["mean"] = _r(float(array.mean()))
        profile["std"] = _r(float(array.std(ddof=1))) if len(array) > 1 else 0.0
        profile["sum"] = _r(float(array.sum()))
    elif column.kind == "datetime" and present:
        profile["min"] = min(present).isoformat()
        profile["max"] = max(present).isoformat()
        profile["span_days"] = round((max(present) - min(present)).total_seconds() / 86400, 2)
    elif column.kind == "boolean" and present:
        profile["true_ratio"] = round(sum(present) / len(present), 4)
    if column.kind in ("categorical", "text", "boolean", "integer") and present:
        top = Counter(str(v) for v in present).most_common(10)
        profile["top_values"] = [
            {"value": v[:200], "count": c, "ratio": round(c / len(present), 4)} for v, c in top
        ]
    if column.kind == "text" and present:
        profile["avg_length"] = round(sum(len(v) for v in present) / len(present), 1)
    return profile


def _r(value: float) -> float:
    if not math.isfinite(value):
        return 0.0
    return round(value, 6) if abs(value) < 1e6 else round(value, 2)


def correlations(columns: list[Column], *, threshold: float = 0.5) -> dict[str, Any]:
    """Pearson and Spearman correlations of numeric columns over pairwise complete rows. A pair is
    strong when either reaches `threshold`; a Pearson r far from the rank correlation means a few
    extreme rows drive it (`outlier_driven`)."""
    from scipy.stats import rankdata

    numeric = [c for c in columns if c.numeric and len({v for v in c.values if v is not None}) > 1][:40]
    names = [c.name for c in numeric]
    matrix = [[1.0 if i == j else None for j in range(len(numeric))] for i in range(len(numeric))]
    spearman = [[1.0 if i == j else None for j in range(len(numeric))] for i in range(len(numeric))]
    strong: list[dict[str, Any]] = []
    for i in range(len(numeric)):
        for j in range(i + 1, len(numeric)):
            pairs = [
                (a, b)
                for a, b in zip(numeric[i].values, numeric[j].values, strict=True)
                if a is not None and b is not None
            ]
            if len(pairs) < 3:
                continue
            x, y = np.array(pairs, dtype=float).T
            if x.std() == 0 or y.std() == 0:
                continue
            r = float(np.corrcoef(x, y)[0, 1])
            rho = float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])
            matrix[i][j] = matrix[j][i] = round(r, 4)
            spearman[i][j] = spearman[j][i] = round(rho, 4)
            if max(abs(r), abs(rho)) >= threshold:
                strong.append(
                    {
                        "a": names[i],
                        "b": names[j],
                        "r": round(r, 4),
                        "rho": round(rho, 4),
                        "n": len(pairs),
                        "outlier_driven": abs(r) >= threshold and abs(rho) < threshold / 2,
                    }
                )
    strong.sort(key=lambda s: (s["outlier_driven"], -max(abs(s["r"]), abs(s["rho"]))))
    return {"columns": names, "matrix": matrix, "spearman": spearman, "strong": strong}


def outliers(column: Column, *, limit: int = 20) -> dict[str, Any]:
    """Outliers of one numeric column by the IQR fences (Tukey, 1.5 IQR) and by the robust
    (median/MAD) z-score; the rows are listed by decreasing |robust z|."""
    indexed = [(i, v) for i, v in enumerate(column.values) if v is not None]
    if len(indexed) < 8:
        return {"column": column.name, "iqr": 0, "robust_z": 0, "rows": []}
    values = np.array([v for _, v in indexed], dtype=float)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    mad = float(np.median(np.abs(values - median)))
    scale = mad / 0.6745 if mad > 0 else (float(np.mean(np.abs(values - median))) * 1.2533 or 1.0)
    z = (values - median) / scale
    iqr_flags = (values < low) | (values > high)
    z_flags = np.abs(z) > ROBUST_Z_LIMIT
    flagged = np.where(iqr_flags | z_flags)[0]
    rows = sorted(
        (
            {
                "row": indexed[k][0],
                "value": _r(float(values[k])),
                "robust_z": round(float(z[k]), 2),
                "iqr": bool(iqr_flags[k]),
                "robust": bool(z_flags[k]),
            }
            for k in flagged
        ),
        key=lambda r: -abs(r["robust_z"]),
    )
    return {
        "column": column.name,
        "fences": {"low": _r(float(low)), "high": _r(float(high))},
        "median": _r(float(median)),
        "mad": _r(mad),
        "iqr": int(iqr_flags.sum()),
        "robust_z": int(z_flags.sum()),
        "rows": rows[:limit],
    }


def outlier_rows(per_column: list[dict], *, limit: int = 20) -> list[dict]:
    """Rows ranked by their most extreme robust z over all columns, with the columns that flag them."""
    rows: dict[int, dict] = {}
    for result in per_column:
        for item in result["rows"]:
            if not item["robust"]:
                continue
            row = rows.setdefault(item["row"], {"row": item["row"], "max_abs_z": 0.0, "columns": []})
            row["columns"].append(
                {"column": result["column"], "value": item["value"], "robust_z": item["robust_z"]}
            )
            row["max_abs_z"] = max(row["max_abs_z"], abs(item["robust_z"]))
    return sorted(rows.values(), key=lambda r: (-len(r["columns"]), -r["max_abs_z"]))[:limit]


def trend(date_column: Column, numeric: list[Column]) -> dict[str, Any]:
    """For each numeric column: the least-squares slope per day over the date column, its r² and a
    direction; and a per-period mean series (day, week or month by span) for charts."""
    stamps = date_column.values
    known = [s for s in stamps if s is not None]
    if len(known) < 3:
        return {"date_column": date_column.name, "error": "fewer than three dated rows"}
    origin = min(known)
    span_days = (max(known) - origin).total_seconds() / 86400
    period = "day" if span_days <= 92 else "week" if span_days <= 730 else "month"
    out: dict[str, Any] = {
        "date_column": date_column.name,
        "start": origin.isoformat(),
        "end": max(known).isoformat(),
        "period": period,
        "columns": [],
    }
    for column in numeric:
        pairs = [
            ((s - origin).total_seconds() / 86400, v)
            for s, v in zip(stamps, column.values, strict=True)
            if s is not None and v is not None
        ]
        if len(pairs) < 3:
            continue
        x, y = np.array(pairs, dtype=float).T
        if x.std() == 0:
            continue
        slope, intercept = np.polyfit(x, y, 1)
        r = float(np.corrcoef(x, y)[0, 1]) if y.std() > 0 else 0.0
        mean = float(y.mean())
        direction = "flat"
        if abs(r) >= 0.3:
            direction = "increasing" if slope > 0 else "decreasing"
        out["columns"].append(
            {
                "column": column.name,
                "slope_per_day": _r(float(slope)),
                "r2": round(r * r, 4),
                "direction": direction,
                "change_over_span": _r(float(slope * span_days)),
                "relative_change": round(float(slope * span_days / mean), 4) if mean else None,
                "series": _series(stamps, column.values, period),
            }
        )
    return out


def _series(stamps: list, values: list, period: str) -> list[dict]:
    buckets: dict[str, list[float]] = {}
    for stamp, value in zip(stamps, values, strict=True):
        if stamp is None or value is None:
            continue
        if period == "day":
            key = stamp.date().isoformat()
        elif period == "week":
            year, week, _ = stamp.isocalendar()
            key = f"{year}-W{week:02d}"
        else:
            key = f"{stamp.year}-{stamp.month:02d}"
        buckets.setdefault(key, []).append(float(value))
    return [{"period": k, "mean": _r(sum(v) / len(v)), "count": len(v)} for k, v in sorted(buckets.items())][
        :1000
    ]
