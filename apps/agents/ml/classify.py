"""Supervised classification from a labelled table: a scikit-learn pipeline over numeric,
categorical and text columns, a stratified train/test split with a fixed seed, metrics and a
confusion matrix. The fitted model is stored as a signed artefact so that a later task can
apply it; an artefact whose signature does not verify is never unpickled."""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import UTC, datetime
from typing import Any

import joblib
import numpy as np
import sklearn
from django.conf import settings
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from apps.agents.analysis.tabular import Column
from apps.agents.ml import honesty

MODEL_MAGIC = b"AMAS-MODEL-1\n"


class ModelError(Exception):
    pass


def _signing_key() -> bytes:
    return hashlib.sha256(b"amas.ml.model:" + settings.SECRET_KEY.encode()).digest()


def model_dump(bundle: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(bundle, buffer, compress=3)
    payload = buffer.getvalue()
    signature = hmac.new(_signing_key(), payload, hashlib.sha256).hexdigest().encode()
    return MODEL_MAGIC + signature + b"\n" + payload


def model_load(data: bytes) -> dict[str, Any]:
    """The bundle, after checking that AMAS wrote these exact bytes (pickles run code on load)."""
    if not data.startswith(MODEL_MAGIC):
        raise ModelError("not a model written by AMAS")
    signature, _, payload = data[len(MODEL_MAGIC) :].partition(b"\n")
    expected = hmac.new(_signing_key(), payload, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(signature, expected):
        raise ModelError(
            "the model's signature does not verify (altered, or written with another SECRET_KEY)"
        )
    return joblib.load(io.BytesIO(payload))


def _frame_columns(columns: list[Column], features: list[str]) -> dict[str, str]:
    kinds = {}
    by_name = {c.name: c for c in columns}
    for name in features:
        column = by_name[name]
        if column.numeric or column.kind == "boolean":
            kinds[name] = "numeric"
        elif column.kind == "text":
            kinds[name] = "text"
        elif column.kind in ("categorical",):
            kinds[name] = "categorical"
    return kinds


def _matrix(columns: list[Column], kinds: dict[str, str]) -> np.ndarray:
    by_name = {c.name: c for c in columns}
    rows = len(columns[0].values)
    out = np.empty((rows, len(kinds)), dtype=object)
    for j, (name, kind) in enumerate(kinds.items()):
        values = by_name[name].values
        if kind == "numeric":
            out[:, j] = [np.nan if v is None else float(v) for v in values]
        else:
            out[:, j] = ["" if v is None else str(v) for v in values]
    return out


def _pipeline(kinds: dict[str, str], *, algorithm: str, seed: int, max_features: int) -> Pipeline:
    names = list(kinds)
    transformers: list[tuple] = []
    numeric = [i for i, n in enumerate(names) if kinds[n] == "numeric"]
    categorical = [i for i, n in enumerate(names) if kinds[n] == "categorical"]
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                numeric,
            )
        )
    if categorical:
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore"), categorical))
    for i, name in enumerate(names):
        if kinds[name] == "text":
            transformers.append(
                (f"text:{name}", TfidfVectorizer(max_features=max_features, sublinear_tf=True), i)
            )
    model = (
        RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
        if algorithm == "random_forest"
        else LogisticRegression(max_iter=2000, random_state=seed)
    )
    return Pipeline([("features", ColumnTransformer(transformers, sparse_threshold=0.3)), ("model", model)])


def train(
    columns: list[Column],
    *,
    label: str,
    features: list[str] | None,
    algorithm: str,
    test_size: float,
    seed: int,
    max_features: int,
    exclude: set[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result, bundle to store). `exclude` columns are never features, even when listed in
    `features`; the label never is."""
    exclude = set(exclude or ())
    by_name = {c.name: c for c in columns}
    if label not in by_name:
        raise ModelError(f"label column {label!r} not found (columns: {', '.join(by_name)})")
    labelled = [i for i, v in enumerate(by_name[label].values) if v is not None]
    y = np.array([str(by_name[label].values[i]) for i in labelled])
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ModelError(f"label column {label!r} has a single class")
    candidate = features or [c.name for c in columns]
    missing = [f for f in candidate + sorted(exclude) if f not in by_name]
    if missing:
        raise ModelError(f"feature column(s) not found: {', '.join(missing)}")
    candidate = [f for f in candidate if f != label and f not in exclude]
    kinds = _frame_columns(columns, candidate)
    if not kinds:
        raise ModelError("no usable feature columns (numeric, categorical or text)")
    x = _matrix(columns, kinds)[labelled]
    stratify = y if counts.min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=stratify
    )
    pipeline = _pipeline(kinds, algorithm=algorithm, seed=seed, max_features=max_features)
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = evaluate(y_test, predicted, classes=[str(c) for c in classes])
    class_balance = {str(c): int(n) for c, n in zip(classes, counts, strict=True)}
    warnings = (
        honesty.header_row(columns)
        + honesty.leakage(columns, list(kinds), y, labelled)
        + honesty.imbalance(class_balance)
    )
    result = {
        "label_column": label,
        "features": kinds,
        "algorithm": algorithm,
        "rows": {"labelled": len(y), "train": len(y_train), "test": len(y_test)},
        "excluded_columns": sorted(exclude),
        "class_balance": class_balance,
        "seed": seed,
        "metrics": metrics,
        "cross_validation": _cross_validation(
            kinds, x, y, algorithm=algorithm, seed=seed, max_features=max_features
        ),
        "feature_importance": _importance(pipeline, list(kinds)),
        "warnings": warnings,
    }
    bundle = {
        "pipeline": pipeline,
        "features": kinds,
        "label_column": label,
        "classes": [str(c) for c in classes],
        "algorithm": algorithm,
        "sklearn_version": sklearn.__version__,
        "trained_at": datetime.now(UTC).isoformat(),
        "metrics": metrics,
    }
    return result, bundle


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, *, classes: list[str]) -> dict[str, Any]:
    report = classification_report(y_true, y_pred, labels=classes, output_dict=True, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "precision_macro": round(report["macro avg"]["precision"], 4),
        "recall_macro": round(report["macro avg"]["recall"], 4),
        "f1_macro": round(report["macro avg"]["f1-score"], 4),
        "f1_weighted": round(report["weighted avg"]["f1-score"], 4),
        "per_class": {c: {k: round(v, 4) for k, v in report[c].items()} for c in classes if c in report},
        "confusion_matrix": {
            "labels": classes,
            "matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        },
    }


def _cross_validation(
    kinds: dict[str, str], x: np.ndarray, y: np.ndarray, *, algorithm: str, seed: int, max_features: int
) -> dict[str, Any] | None:
    """Stratified k-fold (k <= 5, limited by the smallest class) over all labelled rows, so one
    lucky holdout split cannot pass for the model's quality."""
    folds = min(5, int(np.unique(y, return_counts=True)[1].min()))
    if folds < 2:
        return None
    scores = cross_validate(
        _pipeline(kinds, algorithm=algorithm, seed=seed, max_features=max_features),
        x,
        y,
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        scoring=("accuracy", "f1_macro"),
    )
    return {
        "folds": folds,
        "accuracy_mean": round(float(scores["test_accuracy"].mean()), 4),
        "accuracy_std": round(float(scores["test_accuracy"].std()), 4),
        "f1_macro_mean": round(float(scores["test_f1_macro"].mean()), 4),
        "f1_macro_std": round(float(scores["test_f1_macro"].std()), 4),
    }


def _readable(name: str, columns: list[str]) -> str:
    """`numeric__x1` -> `failed_logins`, `categorical__x3_tcp` -> `protocol=tcp`,
    `text:body__invoice` -> `body: invoice` (the ColumnTransformer saw positions, not names)."""
    block, _, rest = name.partition("__")
    if block.startswith("text:"):
        return f"{block[5:]}: {rest}"
    position, _, value = rest[1:].partition("_")
    if rest.startswith("x") and position.isdigit() and int(position) < len(columns):
        column = columns[int(position)]
        return f"{column}={value}" if block == "categorical" else column
    return name


def _importance(pipeline: Pipeline, columns: list[str]) -> list[dict]:
    model = pipeline.named_steps["model"]
    try:
        names = [_readable(str(n), columns) for n in pipeline.named_steps["features"].get_feature_names_out()]
    except (AttributeError, ValueError):
        return []
    if hasattr(model, "feature_importances_"):
        weights = model.feature_importances_
    elif hasattr(model, "coef_"):
        weights = np.abs(model.coef_).mean(axis=0)
    else:
        return []
    order = np.argsort(-weights)[:15]
    return [{"feature": str(names[i]), "importance": round(float(weights[i]), 4)} for i in order]


def predict(bundle: dict[str, Any], columns: list[Column]) -> dict[str, Any]:
    by_name = {c.name: c for c in columns}
    kinds = bundle["features"]
    missing = [f for f in kinds if f not in by_name]
    if missing:
        raise ModelError(f"the table lacks the model's feature column(s): {', '.join(missing)}")
    x = _matrix(columns, kinds)
    pipeline = bundle["pipeline"]
    predicted = pipeline.predict(x)
    confidence = pipeline.predict_proba(x).max(axis=1) if hasattr(pipeline, "predict_proba") else None
    out: dict[str, Any] = {
        "label_column": bundle["label_column"],
        "classes": bundle["classes"],
        "rows": len(predicted),
        "counts": {str(k): int(v) for k, v in zip(*np.unique(predicted, return_counts=True), strict=True)},
        "predictions": [
            {
                "row": i,
                "label": str(p),
                **({"confidence": round(float(confidence[i]), 4)} if confidence is not None else {}),
            }
            for i, p in enumerate(predicted)
        ],
    }
    label = bundle["label_column"]
    if label in by_name:
        known = [i for i, v in enumerate(by_name[label].values) if v is not None]
        if known:
            truth = np.array([str(by_name[label].values[i]) for i in known])
            out["metrics"] = evaluate(truth, predicted[known], classes=bundle["classes"])
    return out


def summary_suffix(result: dict[str, Any]) -> str:
    """Cross-validation next to the holdout figure, then the warnings, for the task summary."""
    cv = result.get("cross_validation")
    text = (
        f" {cv['folds']}-fold cross-validated accuracy {cv['accuracy_mean']} ± {cv['accuracy_std']}, "
        f"macro F1 {cv['f1_macro_mean']}."
        if cv
        else ""
    )
    return text + honesty.summary_line(result.get("warnings", []))
