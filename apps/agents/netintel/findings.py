"""Findings: severity, title, evidence, remediation; and the overall risk score."""

from __future__ import annotations

from typing import Any

SEVERITIES = ("info", "low", "medium", "high", "critical")
WEIGHTS = {"info": 0, "low": 3, "medium": 8, "high": 20, "critical": 40}


def finding(
    severity: str, category: str, title: str, evidence: str, remediation: str, **extra: Any
) -> dict[str, Any]:
    assert severity in SEVERITIES, severity
    return {
        "severity": severity,
        "category": category,
        "title": title,
        "evidence": evidence,
        "remediation": remediation,
        **extra,
    }


def risk(findings: list[dict[str, Any]]) -> tuple[int, str]:
    """0-100 (the weighted sum of findings, capped) and a level."""
    score = min(100, sum(WEIGHTS[f["severity"]] for f in findings))
    if score == 0:
        level = "none"
    elif score < 10:
        level = "low"
    elif score < 30:
        level = "medium"
    elif score < 60:
        level = "high"
    else:
        level = "critical"
    return score, level


def by_severity(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(findings, key=lambda f: -SEVERITIES.index(f["severity"]))
