"""The analysis agent: what documents say and what tables hold."""

from __future__ import annotations

import re
from typing import Any, Literal

from django.conf import settings
from pydantic import Field

from apps.agents.analysis.ai import ai_summarise
from apps.agents.analysis.inputs import (
    Document,
    InputError,
    Table,
    extract_text,
    kind_of,
    read_table,
)
from apps.agents.attribution import generated_by
from apps.agents.base import Agent, AgentContext, AgentParams, AgentResult, Entity
from apps.agents.coverage import of_inputs
from apps.agents.indicators import extract_indicators, for_graph
from apps.core.vocabulary import TaskType

# text, tabular (numpy) and charts (matplotlib, ~45 MiB per process) are imported inside the
# methods that use them: every process registers this agent at start-up, and only a worker process
# that runs an analysis step should load them (tests/core/test_lean_imports.py).

ENTITY_KIND = {"ipv4": "ip", "ipv6": "ip", "md5": "hash", "sha1": "hash", "sha256": "hash"}


class AnalysisParams(AgentParams):
    mode: Literal["auto", "text", "table"] = Field(
        "auto", description="Read every file as text or as a table."
    )
    summary_sentences: int = Field(5, ge=1, le=30)
    keywords: int = Field(15, ge=1, le=100)
    abstractive: bool = Field(True, description="Also ask the AI router for an abstractive summary.")
    date_column: str | None = Field(None, description="Column for the trend; default: the first date column.")
    charts: bool = True
    max_chart_columns: int = Field(6, ge=1, le=24)


class AnalysisAgent(Agent):
    type = "analysis"
    label = "Document and data analysis"
    description = (
        "Text from txt/md/html/pdf/docx: language, statistics, keywords, extractive and abstractive "
        "summaries "
        "with supporting quotes, indicators. Tables from CSV/JSON lines/Excel: column types, statistics, "
        "correlations, outliers, trends and charts."
    )
    capabilities = frozenset(
        {"document_analysis", "summarisation", "keywords", "data_analysis", "statistics", "charts"}
    )
    task_types = frozenset({TaskType.DOCUMENT_ANALYSIS.value, TaskType.DATA_ANALYSIS.value})
    target_kinds = frozenset({"file", "text"})
    Params = AnalysisParams
    default_timeout_seconds = 600

    def run(self, ctx: AgentContext) -> AgentResult:
        params: AnalysisParams = ctx.parameters  # type: ignore[assignment]
        ctx.storage.clear_step_outputs()
        inputs = [(a.original_name, a) for a in ctx.storage.inputs()]
        if not inputs and ctx.task.task_type != TaskType.DATA_ANALYSIS and _inline_text(ctx.task):
            inputs = [("task text", _inline_text(ctx.task))]
        if not inputs:
            return AgentResult(
                status="failed",
                error_message="Nothing to analyse: attach documents or tables "
                "(txt, md, html, pdf, docx, csv, jsonl, xlsx) or give the text as the target.",
            )

        documents, tables, errors = [], [], []
        tokens = [0, 0]
        for index, (name, source) in enumerate(inputs):
            ctx.check_cancelled()
            share = (5 + 85 * index / len(inputs), 85 / len(inputs))

            def progress(fraction: float, message: str, share: tuple = share) -> None:
                ctx.progress(int(share[0] + share[1] * min(1.0, fraction)), message)

            progress(0, f"Reading {name}")
            data = source.encode() if isinstance(source, str) else ctx.storage.read(source)
            kind = params.mode if params.mode != "auto" else kind_of(data, name)
            try:
                if kind == "table" or (kind == "binary" and ctx.task.task_type == TaskType.DATA_ANALYSIS):
                    table = read_table(
                        data, name, max_rows=settings.AMAS_ANALYSIS_MAX_ROWS, progress=progress
                    )
                    tables.append(self._table(ctx, table, params, progress))
                else:
                    document = extract_text(
                        data, name, max_chars=settings.AMAS_ANALYSIS_MAX_TEXT_CHARS, progress=progress
                    )
                    documents.append(self._document(ctx, document, params, progress, tokens))
            except InputError as exc:
                errors.append({"file": name, "error": str(exc)})

        if not documents and not tables:
            return AgentResult(
                status="failed", error_message="; ".join(e["error"] for e in errors), data={"errors": errors}
            )
        entities = [
            Entity(ENTITY_KIND.get(i["kind"], i["kind"]), i["value"])
            for d in documents
            for i in d["indicators"]
            if for_graph(i)
        ][:500]
        data = {
            "documents": documents,
            "tables": tables,
            "errors": errors,
            "findings": _findings(documents, tables, errors),
            "coverage": of_inputs(
                analysed=[(d["name"], bool(d["meta"].get("truncated_at_chars"))) for d in documents]
                + [(t["name"], bool(t["truncated"])) for t in tables],
                errors=errors,
            ),
            "generated_by": generated_by(ctx),
        }
        ctx.progress(100, "Done")
        return AgentResult(
            data=data,
            summary=_summary(documents, tables, errors),
            entities=entities,
            tokens_in=tokens[0],
            tokens_out=tokens[1],
        )

    # ------------------------------------------------------------------ documents

    def _document(
        self, ctx: AgentContext, document: Document, params: AnalysisParams, progress: Any, tokens: list[int]
    ) -> dict:
        from apps.agents.analysis import text as textlib

        text = document.text
        progress(0.3, f"{document.name}: sentences and language")
        sents = textlib.sentences(text)
        language = textlib.detect_language(text)
        stop = textlib.STOPWORD_SETS.get(language["code"], textlib.ALL_STOPWORDS)
        progress(0.5, f"{document.name}: keywords and summary")
        summary = textlib.extractive_summary(sents, stop=stop, count=params.summary_sentences)
        key_points = []
        for item in summary:
            sentence = item["sentence"]
            quotes = [textlib._quote(sentence, 1.0)]
            quotes += textlib.supporting_quotes(
                sentence.text, sents, stop=stop, exclude=sentence.index, limit=2
            )
            key_points.append({"point": sentence.text, "source": "extractive", "quotes": quotes})
        abstractive = None
        if params.abstractive and ctx.ai is not None:
            progress(0.7, f"{document.name}: abstractive summary")
            response, error = ai_summarise(ctx, text[:24_000], purpose="document_summary")
            if response is not None and response.text:
                abstractive = {"text": response.text, "model": response.model}
                tokens[0] += response.tokens_in
                tokens[1] += response.tokens_out
                # a leading "[...]" is a provider's label, not a point of the summary
                for point in textlib.sentences(re.sub(r"^\[[^\]]{0,160}\]\s*", "", response.text)):
                    key_points.append(
                        {
                            "point": point.text,
                            "source": "abstractive",
                            "quotes": textlib.supporting_quotes(point.text, sents, stop=stop, limit=2),
                        }
                    )
            elif error:
                abstractive = {"error": error}
        indicators: dict[tuple[str, str], dict] = {}
        for indicator in extract_indicators(text):
            key = (indicator.kind, indicator.value)
            if key in indicators:
                indicators[key]["count"] += 1
            else:
                indicators[key] = {
                    "kind": indicator.kind,
                    "value": indicator.value,
                    "start": indicator.start,
                    "end": indicator.end,
                    "defanged": indicator.defanged,
                    "confidence": indicator.confidence,
                    "reasons": list(indicator.reasons),
                    "count": 1,
                }
        progress(1.0, f"{document.name}: done")
        return {
            "name": document.name,
            "format": document.format,
            "meta": document.meta,
            "language": language,
            "statistics": textlib.statistics(text, sents, language["code"]),
            "keywords": textlib.keywords(sents, stop=stop, top=params.keywords),
            "summary": {
                "extractive": [
                    {
                        "text": i["sentence"].text,
                        "start": i["sentence"].start,
                        "end": i["sentence"].end,
                        "score": i["score"],
                    }
                    for i in summary
                ],
                "abstractive": abstractive,
            },
            "key_points": key_points,
            "indicators": list(indicators.values())[:1000],
        }

    # ------------------------------------------------------------------ tables

    def _table(self, ctx: AgentContext, table: Table, params: AnalysisParams, progress: Any) -> dict:
        from apps.agents.analysis import tabular

        progress(0.3, f"{table.name}: column types")
        columns = tabular.type_columns(table)
        total = len(table.rows)
        profiles = [tabular.column_profile(c, total_rows=total) for c in columns]
        progress(0.5, f"{table.name}: correlations and outliers")
        numeric = [c for c in columns if c.numeric]
        correlation = tabular.correlations(columns)
        per_column = [tabular.outliers(c) for c in numeric]
        per_column = [o for o in per_column if o["iqr"] or o["robust_z"] or o.get("fences")]
        date_column = (
            next((c for c in columns if c.name == params.date_column), None)
            if params.date_column
            else next((c for c in columns if c.kind == "datetime"), None)
        )
        notes = list(table.notes)
        if params.date_column and date_column is None:
            notes.append(f"date column {params.date_column!r} not found")
        elif date_column is not None and date_column.kind != "datetime":
            notes.append(f"column {date_column.name!r} holds no dates; no trend computed")
            date_column = None
        trend = tabular.trend(date_column, numeric) if date_column is not None else None
        result = {
            "name": table.name,
            "format": table.format,
            "rows": total,
            "truncated": table.truncated,
            "notes": notes,
            "columns": profiles,
            "correlations": correlation,
            "outliers": {"columns": per_column, "rows": tabular.outlier_rows(per_column)},
            "trend": trend,
            "charts": [],
        }
        if params.charts:
            progress(0.75, f"{table.name}: charts")
            result["charts"] = self._charts(
                ctx, table.name, columns, profiles, per_column, correlation, trend, params.max_chart_columns
            )
        progress(1.0, f"{table.name}: done")
        return result

    def _charts(
        self,
        ctx: AgentContext,
        name: str,
        columns: list,
        profiles: list,
        per_column: list,
        correlation: dict,
        trend: dict | None,
        limit: int,
    ) -> list[dict]:
        from apps.agents.analysis import charts

        stem = name.rsplit(".", 1)[0][:80] or "table"
        categorical = next((p for p in profiles if p["type"] == "categorical"), None)
        made = [
            (
                "histograms",
                "Distributions",
                charts.histograms(columns, {o["column"]: o for o in per_column}, limit=limit),
            ),
            ("correlation", "Correlation matrix", charts.correlation_heatmap(correlation)),
            ("trend", "Trend over time", charts.trend_lines(trend, limit=limit) if trend else None),
            ("top-values", "Top values", charts.top_values(categorical) if categorical else None),
        ]
        out = []
        for kind, title, png in made:
            if png is None:
                continue
            artefact = ctx.storage.write(f"{stem}-{kind}.png", png)
            out.append({"kind": kind, "title": title, "artefact_id": str(artefact.id), "bytes": len(png)})
        return out


def _inline_text(task: Any) -> str:
    return "\n\n".join(t for t in (task.target, task.description) if t and t.strip())


def _findings(documents: list[dict], tables: list[dict], errors: list[dict]) -> list[dict]:
    out = []
    for table in tables:
        rows = table["outliers"]["rows"]
        if rows:
            out.append(
                {
                    "severity": "info",
                    "title": f"{len(rows)} outlier row(s) in {table['name']}",
                    "file": table["name"],
                    "detail": f"rows {', '.join(str(r['row']) for r in rows[:10])}",
                }
            )
        for pair in table["correlations"]["strong"][:3]:
            out.append(
                {
                    "severity": "info",
                    "title": f"{pair['a']} ~ {pair['b']} (r={pair['r']})",
                    "file": table["name"],
                    "detail": "",
                }
            )
    for document in documents:
        if document["indicators"]:
            out.append(
                {
                    "severity": "info",
                    "title": f"{len(document['indicators'])} indicator(s) in {document['name']}",
                    "file": document["name"],
                    "detail": "",
                }
            )
    for error in errors:
        out.append(
            {
                "severity": "low",
                "title": "File could not be analysed",
                "file": error["file"],
                "detail": error["error"],
            }
        )
    return out


def _summary(documents: list[dict], tables: list[dict], errors: list[dict]) -> str:
    lines = []
    for d in documents:
        lead = " ".join(s["text"] for s in d["summary"]["extractive"][:3])
        abstractive = (d["summary"]["abstractive"] or {}).get("text")
        words = d["statistics"]["words"]
        keys = ", ".join(k["term"] for k in d["keywords"][:5])
        lines.append(
            f"{d['name']} ({d['language']['name']}, {words} words; keywords: {keys}): {abstractive or lead}"
        )
    for t in tables:
        parts = [f"{t['name']}: {t['rows']} rows x {len(t['columns'])} columns"]
        if t["correlations"]["strong"]:
            best = t["correlations"]["strong"][0]
            parts.append(f"strongest correlation {best['a']} ~ {best['b']} (r={best['r']})")
        if t["outliers"]["rows"]:
            parts.append(f"{len(t['outliers']['rows'])} outlier row(s)")
        moving = [c for c in (t["trend"] or {}).get("columns", []) if c["direction"] != "flat"]
        if moving:
            parts.append(
                "trends: "
                + ", ".join(
                    f"{c['column']} {c['direction']} ({c['slope_per_day']:+g}/day)" for c in moving[:4]
                )
            )
        lines.append("; ".join(parts) + ".")
    for e in errors:
        lines.append(f"{e['file']}: not analysed ({e['error']})")
    return "\n".join(lines)
