"""The forensics agent: what is in the files a user attached (or what is known of a bare hash)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from pydantic import Field

from apps.agents.attribution import generated_by
from apps.agents.base import Agent, AgentContext, AgentParams, AgentResult, Entity, Relation
from apps.agents.coverage import Coverage, describe
from apps.agents.forensics.archives import ExpansionBudget
from apps.agents.forensics.gaps import record_gaps
from apps.agents.forensics.rules import hash_entries_count, hash_sets_lookup, yara_ruleset
from apps.agents.forensics.scanner import Scanner, ScanOptions, walk
from apps.agents.forensics.timeline import iso
from apps.agents.forensics.verdict import combine, decide, finding, rank
from apps.agents.indicators import for_graph
from apps.core.vocabulary import TaskType

_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$", re.I)
_INDICATOR_ENTITY_KIND = {"ipv4": "ip", "ipv6": "ip", "md5": "hash", "sha1": "hash", "sha256": "hash"}


class ForensicsParams(AgentParams):
    strings: bool = Field(True, description="Extract printable ASCII and UTF-16 strings.")
    min_string_length: int = Field(5, ge=3, le=64)
    max_strings: int = Field(5000, ge=0, le=50_000, description="Per file; the full list goes to the report.")
    yara: bool = Field(True, description="Scan with the enabled YARA rules.")
    report_artefact: bool = Field(True, description="Write the full JSON report as an artefact.")
    narrative: bool = Field(True, description="Let the AI router narrate the findings (never the verdict).")


class ForensicsAgent(Agent):
    type = "forensics"
    label = "Forensics"
    description = (
        "Hashes (incl. ssdeep), true file type, entropy, strings and indicators, EXIF/GPS, PDF actions, "
        "Office macros, PE headers, archives (bomb-safe), YARA, known-good/bad hash sets, timeline and a "
        "rule-based verdict."
    )
    capabilities = frozenset(
        {"file_analysis", "hashing", "yara", "metadata", "archives", "pe", "pdf", "office"}
    )
    task_types = frozenset({TaskType.FILE_ANALYSIS.value})
    target_kinds = frozenset({"file", "hash"})
    Params = ForensicsParams
    default_timeout_seconds = 900

    def health(self) -> tuple[bool, str]:
        ruleset = yara_ruleset()
        if ruleset.errors:
            return False, f"{len(ruleset.errors)} YARA rule(s) do not compile: {ruleset.errors[0]}"
        return True, f"YARA ruleset {ruleset.version} ({len(ruleset.names)} source(s))"

    def run(self, ctx: AgentContext) -> AgentResult:
        params: ForensicsParams = ctx.parameters  # type: ignore[assignment]
        ctx.storage.clear_step_outputs()
        uploads = ctx.storage.inputs()
        target = (ctx.task.target or "").strip()
        if not uploads:
            if _HASH.match(target):
                return self._bare_hash(ctx, target.lower())
            return AgentResult(
                status="failed",
                error_message="Nothing to analyse: attach files or give a hash "
                "(MD5, SHA-1, SHA-256 or SHA-512) as the target.",
            )

        ruleset = yara_ruleset() if params.yara else None
        options = ScanOptions(
            strings=params.strings,
            min_string_length=params.min_string_length,
            max_strings=params.max_strings,
            yara_timeout=settings.AMAS_YARA_TIMEOUT_SECONDS,
        )
        files: list[dict[str, Any]] = []
        limits_hit: list[str] = []
        for index, artefact in enumerate(uploads):
            ctx.check_cancelled()
            ctx.progress(5 + 80 * index // len(uploads), f"Analysing {artefact.original_name}")
            budget = ExpansionBudget(
                max_depth=settings.AMAS_ARCHIVE_MAX_DEPTH,
                max_ratio=settings.AMAS_ARCHIVE_MAX_RATIO,
                max_members=settings.AMAS_ARCHIVE_MAX_MEMBERS,
                max_member_bytes=settings.AMAS_MAX_FILE_BYTES,
                remaining_bytes=settings.AMAS_ARCHIVE_MAX_EXPANDED_BYTES,
                max_seconds=settings.AMAS_ARCHIVE_MAX_SECONDS,
                on_progress=_expansion_progress(ctx, artefact.original_name, index, len(uploads)),
            )
            raw = ctx.storage.read(artefact)
            node = Scanner(ruleset=ruleset, options=options, budget=budget).scan(
                raw, name=artefact.original_name, path=artefact.original_name
            )
            node["artefact_id"] = str(artefact.id)
            node["uploaded_at"] = iso(artefact.created_at)
            node["coverage"] = Coverage()
            if len(raw) < artefact.size:
                node["coverage"].missed(
                    f"bytes after {len(raw)} of {artefact.original_name}",
                    "limit_hit",
                    "over the file size limit",
                )
                node["truncated_at_bytes"] = len(raw)
                limits_hit.append(f"{artefact.original_name}: only the first {len(raw)} bytes were analysed")
            node["expansion"] = {
                "bytes_expanded": budget.bytes_expanded,
                "members": budget.members_seen,
                "limits_hit": budget.limits_hit,
            }
            limits_hit.extend(budget.limits_hit)
            files.append(node)

        ctx.progress(88, "Looking up hash sets")
        self._hash_sets(ctx, files)
        coverage = Coverage()
        for node in files:
            nodes = walk(node)
            file_coverage: Coverage = node.pop("coverage")
            record_gaps(file_coverage, nodes)
            node["all_findings"] = sorted(
                (f for n in nodes for f in n["findings"]), key=lambda f: -rank(f["severity"])
            )
            node["verdict"], node["verdict_reasons"] = decide(
                findings=node["all_findings"],
                known_good=any(h["kind"] == "known_good" for h in node.get("hash_sets", [])),
                passive=all(n["passive"] for n in nodes),
                analysed=True,
                gaps=[
                    f"{m['what']}: {m['reason'].replace('_', ' ')}" for m in file_coverage.not_checked[:10]
                ],
            )
            file_coverage.ok(f"{node['path']}: {len(nodes)} node(s) scanned")
            node["coverage"] = file_coverage.as_dict()
            coverage.checked += file_coverage.checked
            coverage.not_checked += file_coverage.not_checked
        rules_applied = ruleset.rule_count if ruleset is not None else 0
        hashes_applied = hash_entries_count(organization_id=ctx.task.organization_id)
        coverage.ok("YARA", f"{rules_applied} rule(s) applied" if params.yara else "switched off")
        coverage.ok("hash sets", f"{hashes_applied} hash(es) applied")
        timeline = _timeline(files)
        verdict = combine([f["verdict"] for f in files])
        findings = [f for node in files for f in node["all_findings"]]
        data: dict[str, Any] = {
            "verdict": verdict,
            "files": [_compact(node) for node in files],
            "findings": findings,
            "timeline": timeline,
            "yara_ruleset_version": ruleset.version if ruleset else None,
            "yara_rule_errors": ruleset.errors if ruleset else [],
            "limits_hit": limits_hit,
            "coverage": coverage.as_dict(),
            "applied": {"yara_rules": rules_applied, "hashes": hashes_applied},
        }
        applied = f"{rules_applied} YARA rule(s), {hashes_applied} hash(es) applied"
        summary = f"{_summary(verdict, files)}\n{describe(data['coverage'])}; {applied}."
        data["narrative"] = summary
        tokens = (0, 0)
        if params.narrative and ctx.ai is not None:
            ctx.progress(92, "Narrating")
            data["narrative"], tokens = _narrate(ctx, summary, findings, timeline)
        data["generated_by"] = generated_by(ctx)
        if params.report_artefact:
            report = json.dumps({**data, "files": files}, indent=2, default=str).encode()
            artefact = ctx.storage.write("forensics-report.json", report)
            data["report_artefact_id"] = str(artefact.id)
        entities, relations = _graph(files)
        ctx.progress(100, f"Verdict: {verdict}")
        return AgentResult(
            data=data,
            summary=summary,
            entities=entities,
            relations=relations,
            tokens_in=tokens[0],
            tokens_out=tokens[1],
        )

    # ------------------------------------------------------------------

    def _bare_hash(self, ctx: AgentContext, value: str) -> AgentResult:
        hits = hash_sets_lookup(organization_id=ctx.task.organization_id, values={value}).get(value, [])
        findings = [_hash_finding(hit, value) for hit in hits]
        verdict, reasons = decide(
            findings=findings,
            known_good=any(h["kind"] == "known_good" for h in hits),
            passive=False,
            analysed=False,
        )
        field = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}[len(value)]
        seen = ctx.storage.earlier_uploads(sha256=value) if field == "sha256" else []
        previous = [
            {
                "artefact_id": str(a.id),
                "task_id": str(a.task_id),
                "name": a.original_name,
                "uploaded_at": iso(a.created_at),
            }
            for a in seen
        ]
        listed = ", ".join(f"{h['set']} ({h['kind'].replace('_', '-')})" for h in hits) or "no hash set"
        summary = f"Hash {value} ({field}): {verdict}; listed in {listed}."
        if previous:
            summary += f" Seen before in {len(previous)} upload(s) of this organization."
        return AgentResult(
            data={
                "verdict": verdict,
                "verdict_reasons": reasons,
                "hash": value,
                "algorithm": field,
                "hash_sets": hits,
                "findings": findings,
                "previously_uploaded": previous,
                "timeline": [],
            },
            summary=summary,
            entities=[Entity("hash", value, {"algorithm": field, "verdict": verdict})],
        )

    def _hash_sets(self, ctx: AgentContext, files: list[dict]) -> None:
        nodes = [n for node in files for n in walk(node)]
        values = {n["hashes"][a] for n in nodes for a in ("md5", "sha1", "sha256", "sha512")}
        ssdeeps = {n["hashes"]["ssdeep"] for n in nodes if n["hashes"].get("ssdeep")}
        hits = hash_sets_lookup(organization_id=ctx.task.organization_id, values=values, ssdeeps=ssdeeps)
        for n in nodes:
            matched = [h for key in n["hashes"].values() for h in hits.get(key, [])]
            n["hash_sets"] = matched
            n["findings"].extend(_hash_finding(h, n["path"]) for h in matched)


def _hash_finding(hit: dict, path: str) -> dict:
    note = f": {hit['note']}" if hit.get("note") else ""
    if "similarity" in hit:
        severity = "high" if hit["known_bad"] else "info"
        title = f"{hit['similarity']}% similar (ssdeep) to an entry of {hit['set']}{note}"
        return finding("fuzzy_hash_similar", severity, title, path=path)
    if hit["known_bad"]:
        return finding("known_bad_hash", "critical", f"Known-bad hash in {hit['set']}{note}", path=path)
    return finding("known_good_hash", "info", f"Known-good hash in {hit['set']}{note}", path=path)


def _timeline(files: list[dict]) -> list[dict]:
    events = []
    for node in files:
        events.append(
            {
                "timestamp": node["uploaded_at"],
                "event": "uploaded to AMAS",
                "file": node["path"],
                "source": "amas",
            }
        )
        for n in walk(node):
            for meta_kind, meta in n["metadata"].items():
                for stamp in meta.get("timestamps", []) if isinstance(meta, dict) else []:
                    events.append(
                        {
                            "timestamp": stamp["value"],
                            "event": stamp["event"],
                            "file": n["path"],
                            "source": meta_kind,
                        }
                    )
            for member in n.get("archive", {}).get("members", []):
                if member.get("modified"):
                    events.append(
                        {
                            "timestamp": member["modified"],
                            "event": "archive member modified",
                            "file": member["path"],
                            "source": "archive",
                        }
                    )
    return sorted((e for e in events if e["timestamp"]), key=lambda e: e["timestamp"])[:2000]


def _compact(node: dict) -> dict:
    """The result row keeps the evidence, not every string (those are in the report artefact)."""
    out = {k: v for k, v in node.items() if k not in ("strings", "archive", "all_findings")}
    if "strings" in node:
        out["strings"] = {
            "total": node["strings"]["total"],
            "truncated": node["strings"]["truncated"],
            "interesting": node["strings"]["interesting"][:50],
            "sample": [s["value"] for s in node["strings"]["items"][:50]],
        }
    if "archive" in node:
        archive = dict(node["archive"])
        archive["members"] = [
            {
                **{k: v for k, v in m.items() if k != "analysis"},
                **({"analysis": _compact(m["analysis"])} if "analysis" in m else {}),
            }
            for m in archive["members"]
        ]
        out["archive"] = archive
    if "entropy" in node:
        out["entropy"] = {k: v for k, v in node["entropy"].items() if k != "blocks"} | {
            "blocks": node["entropy"]["blocks"][:64]
        }
    return out


def _summary(verdict: str, files: list[dict]) -> str:
    lines = [f"Verdict: {verdict} ({len(files)} file(s))."]
    for node in files:
        line = f"{node['path']}: {node['type']['label']}, {node['size']} bytes"
        line += f", sha256 {node['hashes']['sha256']} -> {node['verdict']}"
        if node["verdict"] in ("malicious", "suspicious", "incomplete"):
            line += ": " + "; ".join(node["verdict_reasons"][:4])
        lines.append(line + ".")
    return "\n".join(lines)


def _narrate(
    ctx: AgentContext, summary: str, findings: list[dict], timeline: list[dict]
) -> tuple[str, tuple]:
    """The AI writes prose around the evidence; the verdict stays the rules' (it is restated)."""
    evidence = "\n".join(
        f"- [{f['severity']}] {f['title']} ({f['file']}) {f['detail']}" for f in findings[:40]
    )
    events = "\n".join(f"- {e['timestamp']} {e['event']} ({e['file']})" for e in timeline[:40])
    evidence_text = f"{summary}\n\nFindings:\n{evidence or '- none'}\n\nTimeline:\n{events or '- none'}"
    try:
        text = ctx.ai.summarise(
            evidence_text,
            purpose="forensics",
            instructions="Write a short narrative for an analyst. Do not change the verdict.",
        )
    except Exception as exc:  # the router already retried and fell back; narrate offline
        ctx.logger.warning("AI narrative unavailable: %s", exc)
        return summary, (0, 0)
    # Tokens and authorship are taken from the ledger when the Result is written.
    verdict_line = summary.splitlines()[0]
    return f"{verdict_line}\n\n{str(text).strip()}", (0, 0)


def _graph(files: list[dict]) -> tuple[list[Entity], list[Relation]]:
    entities: list[Entity] = []
    relations: list[Relation] = []

    def file_entity(n: dict) -> Entity:
        return Entity(
            "file",
            n["hashes"]["sha256"],
            {
                "name": n["name"],
                "type": n["type"]["mime"],
                "md5": n["hashes"]["md5"],
                "sha1": n["hashes"]["sha1"],
                "size": n["size"],
                "verdict": n.get("verdict"),
            },
        )

    def visit(n: dict, parent: Entity | None) -> None:
        entity = file_entity(n)
        entities.append(entity)
        if parent is not None:
            relations.append(Relation(parent, "contains", entity))
        for indicator in [i for i in n.get("indicators", []) if for_graph(i)][:200]:
            other = Entity(
                _INDICATOR_ENTITY_KIND.get(indicator["kind"], indicator["kind"]), indicator["value"]
            )
            entities.append(other)
            relations.append(Relation(entity, "contains_indicator", other, {"offset": indicator["offset"]}))
        for member in n.get("archive", {}).get("members", []):
            if "analysis" in member:
                visit(member["analysis"], entity)

    for node in files:
        visit(node, None)
    return entities, relations


def _expansion_progress(ctx: AgentContext, name: str, index: int, count: int) -> Callable[[int, int], None]:
    """Progress inside one file's slice (5..85 %) while its archive expands: the share of the
    member cap seen so far, so a long expansion moves the bar and can be cancelled."""
    start, span = 5 + 80 * index // count, 80 // count

    def report(members: int, expanded: int) -> None:
        ctx.check_cancelled()
        share = min(members / max(settings.AMAS_ARCHIVE_MAX_MEMBERS, 1), 1.0)
        message = f"Expanding {name}: {members} members, {expanded} bytes"
        ctx.progress(start + int(span * 0.9 * share), message)

    return report
