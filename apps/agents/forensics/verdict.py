"""The verdict of a file, by rules over the evidence. Never by the LLM: it only narrates.

malicious   a critical finding: a known-bad hash, a YARA rule of malicious severity
suspicious  a medium or high finding (active content, macros, a lying extension, a zip bomb,
            injection APIs, packing ...), unless the file is on a known-good list
clean       on a known-good list, or a passive type (text, image, document, archive of such)
            with nothing above `low` found in it or its members, and every check of it ran
incomplete  would be clean, but part of the content was not checked (a limit, a parser error,
            encryption): absence of evidence is not evidence of absence
unknown     no evidence either way: an executable or unrecognised binary with no findings,
            or a bare hash on no list
"""

from __future__ import annotations

from typing import Any

SEVERITY_ORDER = ["info", "low", "medium", "high", "critical"]


def finding(rule: str, severity: str, title: str, *, path: str, detail: str = "", **extra: Any) -> dict:
    assert severity in SEVERITY_ORDER, severity
    return {"rule": rule, "severity": severity, "title": title, "detail": detail, "file": path, **extra}


def rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else 0


def decide(
    *, findings: list[dict], known_good: bool, passive: bool, analysed: bool, gaps: list[str] | None = None
) -> tuple[str, list[str]]:
    """(verdict, reasons). `passive`: every node of the file is a type that runs no code by
    itself; `analysed`: its content was available (not only a bare hash); `gaps`: what of it
    could not be checked (coverage), which keeps a negative verdict from being 'clean'."""
    worst = max((rank(f["severity"]) for f in findings), default=-1)
    critical = [f for f in findings if f["severity"] == "critical"]
    serious = [f for f in findings if f["severity"] in ("medium", "high")]
    if critical:
        return "malicious", [_reason(f) for f in critical]
    if known_good:
        reasons = ["on a known-good hash list"]
        if serious:
            reasons.append(
                f"{len(serious)} finding(s) of medium/high severity overridden by the known-good listing"
            )
        return "clean", reasons
    if serious:
        return "suspicious", [_reason(f) for f in sorted(serious, key=lambda f: -rank(f["severity"]))]
    if analysed and passive and worst <= rank("low"):
        if gaps:
            return "incomplete", ["nothing suspicious in what was checked, but not everything was", *gaps]
        return "clean", ["passive content type with no finding above low severity"]
    if not analysed:
        return "unknown", ["no content to analyse and the hash is on no list"]
    return "unknown", ["executable or unrecognised content with no evidence either way", *(gaps or [])]


def _reason(f: dict) -> str:
    return f"{f['title']} ({f['severity']}, {f['file']})"


WORST_FIRST = ["malicious", "suspicious", "incomplete", "unknown", "clean"]


def combine(verdicts: list[str]) -> str:
    """The task's verdict: the worst of its files'."""
    for verdict in WORST_FIRST:
        if verdict in verdicts:
            return verdict
    return "unknown"
