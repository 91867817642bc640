"""An agent's result as a report an analyst reads: verdict and coverage first, then findings by
severity, key facts, tables and charts, hashes in copyable blocks and every generated text with
the provider and model that wrote it. Nothing here prints JSON: nested data becomes nested
definition lists and tables, and the raw JSON stays behind the page's disclosure.

The shapes come from the agents (forensics, analysis, ml, osint, security, aggregate) but the
walk is generic, so a plug-in agent's result reads the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from apps.agents.coverage import REASONS

SEVERITIES = ("critical", "high", "medium", "low", "info")
HASH_KEYS = frozenset(
    {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ssdeep", "tlsh", "imphash", "hash"}
)
# Keys the report shows in its own places (or that repeat what is shown elsewhere).
SHOWN_APART = frozenset(
    {
        "verdict",
        "verdict_reasons",
        "coverage",
        "findings",
        "generated_by",
        "narrative",
        "charts",
        "chart_artefact_id",
        "risk_level",
        "risk_score",
        "findings_by_severity",
        "summary",
    }
)
VERDICT_KEYS = ("verdict", "risk_level", "risk", "assessment")
MAX_DEPTH = 4
MAX_ITEMS = 100
MAX_COLUMNS = 8
NEUTRAL = {"clean", "none", "benign", "low", "ok", "complete", "completed"}
WORRYING = {"malicious", "critical", "high", "failed"}
ACRONYMS = frozenset(
    [
        "ip",
        "dns",
        "tls",
        "url",
        "pe",
        "pdf",
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "ssdeep",
        "yara",
        "mx",
        "ns",
        "txt",
        "caa",
        "asn",
        "id",
        "ai",
        "http",
        "csv",
        "pca",
        "rdap",
        "whois",
        "ioc",
        "ttl",
        "spf",
        "dmarc",
        "dkim",
    ]
)


def label(key: Any) -> str:
    """`days_to_expiry` -> 'Days to expiry'; acronyms readers know stay upper case."""
    text = str(key).replace("_", " ").replace(".", " ").strip()
    words = [w.upper() if w.lower() in ACRONYMS else w for w in text.split()]
    if not words:
        return "—"
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])


def scalar_text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _inline(value: Any, depth: int = 0) -> str:
    """A nested value as one readable line for a table cell ('a: 1; b: x, y')."""
    if _is_scalar(value):
        return scalar_text(value)
    if depth > 1:
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {_inline(v, depth + 1)}" for k, v in list(value.items())[:8]) or "—"
    if all(_is_scalar(v) for v in value):
        shown = ", ".join(scalar_text(v) for v in value[:10])
        return shown + (f" and {len(value) - 10} more" if len(value) > 10 else "") if value else "none"
    return f"{len(value)} item{'s' if len(value) != 1 else ''}"


@dataclass
class Node:
    """One piece of a report: text, hash, list, table, facts (definition list) or records
    (one nested block per item)."""

    kind: str
    label: str = ""
    text: str = ""
    css: str = ""
    items: list[Any] = field(default_factory=list)  # facts: Nodes; list: str; records: Nodes
    columns: list[str] = field(default_factory=list)
    rows: list[list[tuple[str, ...]]] = field(default_factory=list)  # table: (text, css, url)
    more: int = 0
    url: str = ""  # text: the entity page of the value (link_entities)
    links: list[tuple[str, str]] = field(default_factory=list)  # list: (item, entity page or "")


def severity_css(value: Any) -> str:
    text = str(value).lower()
    return f"badge sev-{text}" if text in SEVERITIES else ""


def _table(key: str, items: list[dict[str, Any]]) -> Node:
    columns: list[str] = []
    for item in items:
        for k in item:
            if k not in columns:
                columns.append(k)
    if "severity" in columns:  # what a reader scans for first
        columns.remove("severity")
        columns.insert(0, "severity")
    columns = columns[:MAX_COLUMNS]
    rows: list[list[tuple[str, ...]]] = []
    for item in items[:MAX_ITEMS]:
        row: list[tuple[str, ...]] = []
        for column in columns:
            value = item.get(column)
            if column in HASH_KEYS and isinstance(value, str):
                row.append((scalar_text(value), "hash", ""))
            else:
                row.append((_inline(value), severity_css(value) if column == "severity" else "", ""))
        rows.append(row)
    return Node(
        kind="table",
        label=label(key),
        columns=[label(c) for c in columns],
        rows=rows,
        more=max(0, len(items) - MAX_ITEMS),
    )


def _record_title(item: dict[str, Any], index: int) -> str:
    for key in ("name", "path", "title", "column", "file", "value", "host", "id"):
        if _is_scalar(item.get(key)) and item.get(key) not in (None, ""):
            return str(item[key])
    return f"Item {index + 1}"


def node_for(key: str, value: Any, depth: int = 0) -> Node:
    """A value as a report node; dictionaries become definition lists, lists of flat records
    tables, lists of nested records one block each."""
    if key in HASH_KEYS and isinstance(value, str):
        return Node(kind="hash", label=label(key), text=value)
    if _is_scalar(value):
        return Node(kind="text", label=label(key), text=scalar_text(value), css=severity_css(value))
    if depth >= MAX_DEPTH:
        if not value:
            return Node(kind="text", label=label(key), text="none")
        return Node(kind="text", label=label(key), text=_inline(value, 1) + " (all of it is in the raw JSON)")
    if isinstance(value, dict):
        if not value:
            return Node(kind="text", label=label(key), text="none")
        numbers = [v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(value) >= 2 and len(numbers) == len(value):  # counts per category: bars
            ranked = sorted(value.items(), key=lambda kv: -kv[1])[:MAX_ITEMS]
            top = max((abs(v) for _, v in ranked), default=0) or 1
            return Node(
                kind="bars",
                label=label(key),
                rows=[[(str(k), scalar_text(v)), (str(abs(v)), str(top))] for k, v in ranked],
            )
        return Node(
            kind="facts", label=label(key), items=[node_for(k, v, depth + 1) for k, v in value.items()]
        )
    if not value:
        return Node(kind="text", label=label(key), text="none")
    if all(_is_scalar(v) for v in value):
        return Node(
            kind="list",
            label=label(key),
            items=[scalar_text(v) for v in value[:MAX_ITEMS]],
            more=max(0, len(value) - MAX_ITEMS),
        )
    if all(isinstance(v, dict) for v in value):
        nested = any(
            isinstance(v, (dict, list)) and v for item in value for k, v in item.items() if k not in HASH_KEYS
        )
        if not nested:
            return _table(key, value)
        records = [
            Node(
                kind="facts",
                label=_record_title(item, i),
                items=[node_for(k, v, depth + 2) for k, v in item.items()],
            )
            for i, item in enumerate(value[:MAX_ITEMS])
        ]
        return Node(kind="records", label=label(key), items=records, more=max(0, len(value) - MAX_ITEMS))
    return Node(
        kind="list",
        label=label(key),
        items=[_inline(v) for v in value[:MAX_ITEMS]],
        more=max(0, len(value) - MAX_ITEMS),
    )


# ------------------------------------------------------------------------------- the report


@dataclass
class Verdict:
    text: str
    css: str
    reasons: list[str]


@dataclass
class CoverageView:
    complete: bool
    checked: list[dict[str, str]]
    not_checked: list[dict[str, str]]  # what, reason (in words), detail


@dataclass
class Chart:
    title: str
    url: str


@dataclass
class Writer:
    purpose: str
    provider: str
    model: str
    tokens: int
    outcome: str


@dataclass
class Report:
    verdict: Verdict | None
    coverage: CoverageView | None
    findings: list[dict[str, Any]]
    finding_counts: list[tuple[str, int]]
    narrative: str  # generated text that differs from the summary
    summary_generated: bool  # the summary itself is the generated text
    writers: list[Writer]
    charts: list[Chart]
    facts: list[Node]
    sections: list[Node]


def _verdict(data: dict[str, Any]) -> Verdict | None:
    for key in VERDICT_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            text = value.replace("_", " ")
            if key == "risk_level":
                score = data.get("risk_score")
                text = f"risk {text}" + (f" ({score}/100)" if score is not None else " (no score)")
            lowered = value.lower()
            css = "v-good" if lowered in NEUTRAL else "v-bad" if lowered in WORRYING else "v-warn"
            reasons = [str(r) for r in data.get("verdict_reasons") or [] if _is_scalar(r)]
            return Verdict(text=text, css=css, reasons=reasons)
    return None


def _coverage(data: dict[str, Any]) -> CoverageView | None:
    coverage = data.get("coverage")
    if not isinstance(coverage, dict):
        return None
    missed = [
        {
            "what": str(m.get("what", "")),
            "reason": REASONS.get(str(m.get("reason")), str(m.get("reason", "")).replace("_", " ")),
            "detail": str(m.get("detail", "")),
        }
        for m in coverage.get("not_checked") or []
        if isinstance(m, dict)
    ]
    checked = [c for c in coverage.get("checked") or [] if isinstance(c, dict)]
    return CoverageView(
        complete=bool(coverage.get("complete")) and not missed, checked=checked, not_checked=missed
    )


def _findings(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    raw = [f for f in data.get("findings") or [] if isinstance(f, dict)]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    ordered = sorted(raw, key=lambda f: rank.get(str(f.get("severity", "info")).lower(), len(SEVERITIES)))
    findings = []
    for f in ordered[:MAX_ITEMS]:
        severity = str(f.get("severity") or "info").lower()
        title = f.get("title") or f.get("rule") or f.get("name") or f.get("kind") or "Finding"
        rest = {k: v for k, v in f.items() if k not in ("severity", "title") and v not in (None, "", [], {})}
        findings.append(
            {
                "severity": severity,
                "css": severity_css(severity) or "badge",
                "title": scalar_text(title) if _is_scalar(title) else _inline(title),
                "details": [(label(k), _inline(v), k in HASH_KEYS) for k, v in rest.items()],
            }
        )
    counts: dict[str, int] = {}
    for f in raw:
        severity = str(f.get("severity") or "info").lower()
        counts[severity] = counts.get(severity, 0) + 1
    return findings, sorted(counts.items(), key=lambda kv: rank.get(kv[0], len(SEVERITIES)))


def chart_url(artefact_id: str) -> str:
    return reverse("artefact_image", args=[artefact_id])


def _charts(value: Any, depth: int = 0) -> list[Chart]:
    """Every chart an agent stored as an artefact, wherever in its data: `charts: [{title,
    artefact_id}]` (analysis, per table) and `chart_artefact_id` (ml)."""
    found: list[Chart] = []
    if depth > 5:
        return found
    if isinstance(value, dict):
        if isinstance(value.get("chart_artefact_id"), str):
            found.append(
                Chart(title=str(value.get("title") or "Chart"), url=chart_url(value["chart_artefact_id"]))
            )
        for key, child in value.items():
            if key == "charts" and isinstance(child, list):
                found += [
                    Chart(
                        title=str(c.get("title") or label(c.get("kind", "chart"))),
                        url=chart_url(c["artefact_id"]),
                    )
                    for c in child
                    if isinstance(c, dict) and isinstance(c.get("artefact_id"), str)
                ]
            elif isinstance(child, (dict, list)):
                found += _charts(child, depth + 1)
    elif isinstance(value, list):
        for child in value[:MAX_ITEMS]:
            found += _charts(child, depth + 1)
    return found


def _without_charts(value: Any) -> Any:
    """The data with the chart references taken out (the charts are shown as images)."""
    if isinstance(value, dict):
        return {k: _without_charts(v) for k, v in value.items() if k not in ("charts", "chart_artefact_id")}
    if isinstance(value, list):
        return [_without_charts(v) for v in value]
    return value


def _writers(data: dict[str, Any]) -> list[Writer]:
    return [
        Writer(
            purpose=str(w.get("purpose") or w.get("operation") or "text"),
            provider=str(w.get("provider") or "builtin"),
            model=str(w.get("model") or ""),
            tokens=int(w.get("tokens_in") or 0) + int(w.get("tokens_out") or 0),
            outcome=str(w.get("outcome") or ""),
        )
        for w in data.get("generated_by") or []
        if isinstance(w, dict)
    ]


def result_report(data: Any, *, summary: str = "") -> Report:
    if not isinstance(data, dict):
        data = {"value": data}
    findings, counts = _findings(data)
    raw_narrative = data.get("narrative") if isinstance(data.get("narrative"), str) else ""
    writers = _writers(data)
    # osint/security narrate into the summary; forensics keeps its plain summary and narrates apart.
    same = raw_narrative.strip() == summary.strip()
    narrative = "" if same else raw_narrative
    summary_generated = bool(writers) and (same or not raw_narrative)
    rest = _without_charts({k: v for k, v in data.items() if k not in SHOWN_APART})
    facts = [
        node_for(k, v) for k, v in rest.items() if _is_scalar(v) or (k in HASH_KEYS and isinstance(v, str))
    ]
    sections = [node_for(k, v) for k, v in rest.items() if not _is_scalar(v)]
    if isinstance(data.get("findings_by_severity"), dict) and not findings:
        counts = [(str(k), int(v)) for k, v in data["findings_by_severity"].items() if isinstance(v, int)]
    return Report(
        verdict=_verdict(data),
        coverage=_coverage(data),
        findings=findings,
        finding_counts=counts,
        narrative=narrative,
        summary_generated=summary_generated,
        writers=writers,
        charts=_charts(data),
        facts=facts,
        sections=sections,
    )


def link_entities(report: Report, urls: dict[str, str]) -> None:
    """Values the knowledge graph knows as entities of this task (`urls`: lower-cased value ->
    entity page) become links in the report's texts, lists and table cells."""
    if not urls:
        return
    stack: list[Node] = [*report.facts, *report.sections]
    while stack:
        node = stack.pop()
        if node.kind in ("text", "hash"):
            node.url = urls.get(node.text.strip().lower(), "")
        elif node.kind == "list":
            node.links = [(item, urls.get(str(item).strip().lower(), "")) for item in node.items]
        elif node.kind == "table":
            node.rows = [
                [(text, css, urls.get(text.strip().lower(), "")) for text, css, _url in row]
                for row in node.rows
            ]
        elif node.kind in ("facts", "records"):
            stack.extend(n for n in node.items if isinstance(n, Node))
