"""The machine-learning agent: anomalies in tables and logs, clusters of documents or rows, and
classifiers trained on labelled tables (and applied again by a later task)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any, Literal

from django.conf import settings
from pydantic import Field

from apps.agents.analysis.ai import ai_embed
from apps.agents.analysis.inputs import (
    InputError,
    Table,
    extract_text,
    kind_of,
    read_table,
)
from apps.agents.base import Agent, AgentContext, AgentParams, AgentResult
from apps.agents.coverage import of_inputs
from apps.core.vocabulary import TaskType

# numpy and scikit-learn (~90 MiB per process) are imported inside the methods that use them, not
# here: every web, beat and worker process registers this agent at start-up, and only a worker
# process that actually runs an ML step should pay for them (tests/core/test_lean_imports.py).

MODES = {
    TaskType.ANOMALY_DETECTION: "anomaly",
    TaskType.CLUSTERING: "clustering",
    TaskType.CLASSIFICATION: "classification",
}


class MLParams(AgentParams):
    mode: Literal["auto", "anomaly", "clustering", "classification"] = Field(
        "auto", description="Default: from the task type."
    )
    seed: int = Field(42, description="Fixed so that runs are reproducible.")
    top: int = Field(10, ge=1, le=500, description="Anomalies to explain.")
    method: Literal["isolation_forest", "robust_z"] = "isolation_forest"
    contamination: float | Literal["auto"] = Field("auto", description="Expected share of anomalies (0-0.5).")
    n_clusters: int | None = Field(None, ge=1, le=50, description="Default: chosen by silhouette.")
    unit: Literal["auto", "file", "line", "paragraph", "row"] = Field(
        "auto", description="What one document is when clustering text."
    )
    past_results: int = Field(
        0, ge=0, le=2000, description="Also cluster this many recent results' summaries."
    )
    exclude_columns: list[str] = Field(default_factory=list)
    label_column: str | None = Field(None, description="Default: `label` if present, else the last column.")
    feature_columns: list[str] | None = None
    algorithm: Literal["random_forest", "logistic_regression"] = "random_forest"
    test_size: float = Field(0.25, gt=0.05, lt=0.9)
    model_artefact_id: uuid.UUID | None = Field(None, description="Apply a model an earlier task trained.")


class MLAgent(Agent):
    type = "ml"
    label = "Machine learning"
    description = (
        "Anomaly detection on tables and logs (IsolationForest, explained per feature), clustering of "
        "documents (router embeddings or TF-IDF) or rows, and classifiers trained on labelled CSV, saved "
        "as reusable artefacts."
    )
    capabilities = frozenset({"anomaly_detection", "clustering", "classification", "machine_learning"})
    task_types = frozenset(
        {TaskType.ANOMALY_DETECTION.value, TaskType.CLUSTERING.value, TaskType.CLASSIFICATION.value}
    )
    target_kinds = frozenset({"file", "text"})
    Params = MLParams
    default_timeout_seconds = 1200

    def run(self, ctx: AgentContext) -> AgentResult:
        from apps.agents.ml import classify

        params: MLParams = ctx.parameters  # type: ignore[assignment]
        ctx.storage.clear_step_outputs()
        mode = params.mode if params.mode != "auto" else MODES.get(ctx.task.task_type)
        if mode is None:
            mode = "classification" if params.model_artefact_id or params.label_column else "anomaly"
        try:
            inputs = self._inputs(ctx, params)
            if mode == "anomaly":
                data, summary = self._anomaly(ctx, params, inputs)
            elif mode == "clustering":
                data, summary = self._clustering(ctx, params, inputs)
            else:
                data, summary = self._classification(ctx, params, inputs)
        except (InputError, classify.ModelError) as exc:
            return AgentResult(status="failed", error_message=str(exc), data={"mode": mode})
        ctx.progress(100, "Done")
        read = [(name, bool(getattr(content, "truncated", False))) for name, content in inputs]
        coverage = of_inputs(analysed=read, errors=[])
        return AgentResult(data={"mode": mode, **data, "coverage": coverage}, summary=summary)

    # ------------------------------------------------------------------ inputs

    def _inputs(self, ctx: AgentContext, params: MLParams) -> list[tuple[str, Any]]:
        """(name, Table | text) per uploaded file, each within the row limit."""
        out: list[tuple[str, Any]] = []
        uploads = ctx.storage.inputs()
        for index, artefact in enumerate(uploads):
            ctx.check_cancelled()
            ctx.progress(2 + 20 * index // max(1, len(uploads)), f"Reading {artefact.original_name}")
            data = ctx.storage.read(artefact)
            kind = kind_of(data, artefact.original_name)
            if kind == "table":
                out.append(
                    (
                        artefact.original_name,
                        read_table(data, artefact.original_name, max_rows=settings.AMAS_ML_MAX_ROWS),
                    )
                )
            else:
                text = extract_text(
                    data, artefact.original_name, max_chars=settings.AMAS_ANALYSIS_MAX_TEXT_CHARS
                ).text
                out.append((artefact.original_name, text))
        if not out and ctx.task.target.strip() and params.past_results == 0:
            out.append(("task text", ctx.task.target))
        if not out and params.past_results == 0:
            raise InputError("Nothing to learn from: attach a CSV, JSON lines, Excel, log or text files.")
        return out

    # ------------------------------------------------------------------ anomaly detection

    def _anomaly(self, ctx: AgentContext, params: MLParams, inputs: list) -> tuple[dict, str]:
        from apps.agents.analysis.tabular import type_columns
        from apps.agents.ml import anomaly

        results, lines = [], []
        for index, (name, content) in enumerate(inputs):
            ctx.progress(25 + 65 * index // len(inputs), f"Scoring {name}")
            if isinstance(content, Table):
                result = anomaly.table_anomalies(
                    type_columns(content),
                    method=params.method,
                    seed=params.seed,
                    contamination=params.contamination,
                    top=params.top,
                    exclude=set(params.exclude_columns),
                )
                result.update(source=name, kind="table", rows=len(content.rows), notes=content.notes)
            else:
                result = anomaly.log_anomalies(
                    content,
                    seed=params.seed,
                    contamination=params.contamination,
                    top=params.top,
                    max_lines=settings.AMAS_ML_MAX_ROWS,
                )
                result.update(source=name, kind="log")
            results.append(result)
            if "error" in result:
                lines.append(f"{name}: {result['error']}")
                continue
            unit = "row" if result["kind"] == "table" else "line"
            top = result["top"][:3]
            described = "; ".join(
                f"{unit} {t.get('row', t.get('line'))} ("
                + ", ".join(e["feature"] for e in t["explanation"][:2])
                + ")"
                for t in top
            )
            lines.append(
                f"{name}: {result['flagged']} anomalous {unit}(s) flagged; most anomalous: {described}"
            )
        if all("error" in r for r in results):
            raise InputError("; ".join(f"{r['source']}: {r['error']}" for r in results))
        findings = [
            {
                "severity": "medium" if r["flagged"] else "info",
                "title": f"{r['flagged']} anomalies in {r['source']}",
                "file": r["source"],
                "detail": "",
            }
            for r in results
            if "error" not in r
        ]
        return {"anomalies": results, "findings": findings}, "\n".join(lines)

    # ------------------------------------------------------------------ clustering

    def _clustering(self, ctx: AgentContext, params: MLParams, inputs: list) -> tuple[dict, str]:
        from apps.agents.analysis.tabular import type_columns
        from apps.agents.ml import clustering

        tables = [(n, c) for n, c in inputs if isinstance(c, Table)]
        texts = [(n, c) for n, c in inputs if isinstance(c, str)]
        results = []
        for name, table in tables:
            ctx.progress(30, f"Clustering rows of {name}")
            columns = type_columns(table)
            text_columns = [c for c in columns if c.kind == "text" and c.name not in params.exclude_columns]
            if (
                params.unit == "row"
                and text_columns
                or (not any(c.numeric for c in columns) and text_columns)
            ):
                docs = [(f"{name}#{i}", v) for i, v in enumerate(text_columns[0].values) if v]
                result = self._cluster_texts(ctx, params, docs)
            else:
                result = clustering.cluster_rows(
                    columns, k=params.n_clusters, seed=params.seed, exclude=set(params.exclude_columns)
                )
            result["source"] = name
            results.append(result)
        documents = self._documents(texts, params) + self._past_results(ctx, params.past_results)
        if documents:
            ctx.progress(50, f"Clustering {len(documents)} document(s)")
            result = self._cluster_texts(ctx, params, documents)
            result["source"] = ", ".join(n for n, _ in texts) or "past results"
            results.append(result)
        if not results:
            raise InputError("Nothing to cluster.")
        if all("error" in r for r in results):
            raise InputError("; ".join(r["error"] for r in results))
        for result in results:
            projection = result.pop("_projection", None)
            if projection is not None and "error" not in result:
                png = clustering.projection_chart(projection, result["clusters"])
                artefact = ctx.storage.write("clusters.png", png)
                result["chart_artefact_id"] = str(artefact.id)
        summary = "\n".join(
            f"{r['source']}: {r['error']}"
            if "error" in r
            else f"{r['source']}: {r['k']} cluster(s) ({r['vectors']}, silhouette {r['silhouette']}): "
            + "; ".join(f"{c['label']} ({c['size']})" for c in r["clusters"][:6])
            for r in results
        )
        return {"clusterings": results}, summary

    def _documents(self, texts: list[tuple[str, str]], params: MLParams) -> list[tuple[str, str]]:
        unit = params.unit
        if unit == "auto":
            unit = "file" if len(texts) > 1 else "paragraph"
        docs: list[tuple[str, str]] = []
        for name, text in texts:
            if unit == "file":
                docs.append((name, text))
                continue
            parts = text.split("\n\n") if unit == "paragraph" else text.splitlines()
            if unit == "paragraph" and len([p for p in parts if p.strip()]) < 3:
                parts = text.splitlines()
            docs.extend((f"{name}#{i}", p.strip()) for i, p in enumerate(parts) if p.strip())
        return docs[: settings.AMAS_ML_MAX_ROWS]

    def _past_results(self, ctx: AgentContext, count: int) -> list[tuple[str, str]]:
        if not count:
            return []
        return ctx.history.earlier_summaries(count)

    def _cluster_texts(self, ctx: AgentContext, params: MLParams, docs: list[tuple[str, str]]) -> dict:
        from apps.agents.ml import clustering

        names, texts = [n for n, _ in docs], [t for _, t in docs]
        embeddings, error = ai_embed(ctx, texts) if len(texts) >= 3 else (None, "")
        result = clustering.cluster_documents(
            names,
            texts,
            embeddings=embeddings,
            k=params.n_clusters,
            seed=params.seed,
            max_features=settings.AMAS_ML_MAX_FEATURES,
        )
        if error:
            result["embedding_error"] = error
        return result

    # ------------------------------------------------------------------ classification

    def _classification(self, ctx: AgentContext, params: MLParams, inputs: list) -> tuple[dict, str]:
        from apps.agents.analysis.tabular import type_columns
        from apps.agents.ml import classify

        tables = [(n, c) for n, c in inputs if isinstance(c, Table)]
        if not tables:
            raise InputError("Classification needs a table (CSV, JSON lines or Excel).")
        name, table = tables[0]
        columns = type_columns(table)
        if params.model_artefact_id is not None:
            return self._predict(ctx, params, name, columns)
        label = params.label_column or ("label" if "label" in table.columns else table.columns[-1])
        ctx.progress(40, f"Training on {name}")
        result, bundle = classify.train(
            columns,
            label=label,
            features=params.feature_columns,
            algorithm=params.algorithm,
            test_size=params.test_size,
            seed=params.seed,
            max_features=settings.AMAS_ML_MAX_FEATURES,
            exclude=set(params.exclude_columns),
        )
        bundle["trained_on"] = {"task_id": str(ctx.task.id), "file": name}
        ctx.progress(85, "Saving the model")
        artefact = ctx.storage.write(f"model-{label}.joblib", classify.model_dump(bundle))
        result.update(source=name, model_artefact_id=str(artefact.id))
        metrics = result["metrics"]
        summary = (
            f"{name}: {result['algorithm']} predicting {label!r} from {len(result['features'])} column(s); "
            f"test accuracy {metrics['accuracy']}, macro F1 {metrics['f1_macro']} "
            f"on {result['rows']['test']} rows. Model saved as artefact {artefact.id}."
            + classify.summary_suffix(result)
        )
        return {"classification": result}, summary

    def _predict(self, ctx: AgentContext, params: MLParams, name: str, columns: list) -> tuple[dict, str]:
        from apps.agents.ml import classify

        artefact = ctx.storage.produced(params.model_artefact_id)
        if artefact is None:
            raise classify.ModelError(f"No model artefact {params.model_artefact_id} in this organization.")
        bundle = classify.model_load(ctx.storage.read(artefact))
        ctx.progress(50, f"Applying the model to {name}")
        result = classify.predict(bundle, columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", f"predicted_{bundle['label_column']}", "confidence"])
        for p in result["predictions"]:
            writer.writerow([p["row"], p["label"], p.get("confidence", "")])
        predictions = ctx.storage.write("predictions.csv", buffer.getvalue().encode())
        result["predictions"] = result["predictions"][:200]
        result.update(
            source=name,
            model_artefact_id=str(artefact.id),
            predictions_artefact_id=str(predictions.id),
            model={
                "algorithm": bundle["algorithm"],
                "trained_at": bundle["trained_at"],
                "trained_on": bundle.get("trained_on"),
                "training_metrics": bundle["metrics"],
            },
        )
        counts = ", ".join(f"{k}: {v}" for k, v in result["counts"].items())
        summary = f"{name}: {result['rows']} row(s) classified with model {artefact.id} ({counts})."
        if "metrics" in result:
            summary += f" Accuracy against the given labels: {result['metrics']['accuracy']}."
        return {"prediction": result}, summary
