"""What an agent checked and what it could not check, with why. Part of every result.

A negative result ("clean", "risk none") is only worth something when the checks that would
have found the problem ran. Agents record each check here; a verdict or risk level that says
"nothing found" is downgraded to "incomplete" / "not_assessed" whenever coverage is not
complete, and the reasons travel with it (result data, summary line, the task page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Why a check did not run (or did not finish). A closed vocabulary so that the UI, the
# aggregate summary and tests can rely on it.
REASONS = {
    "limit_hit": "a size, count or depth limit stopped it",
    "egress_refused": "the egress policy refused the connection",
    "resolver_unreachable": "the DNS resolver did not answer",
    "resolver_unusable": "the DNS resolver denies names that must exist",
    "servfail": "the DNS resolver failed to answer for this name (SERVFAIL)",
    "timeout": "it did not answer in time",
    "unreachable": "the target could not be reached",
    "parser_error": "the content could not be parsed",
    "encrypted": "the content is encrypted",
    "not_authorised": "active checks need an authorised target",
    "disabled": "switched off in the agent's parameters",
    "error": "it failed",
}


@dataclass
class Coverage:
    checked: list[dict[str, str]] = field(default_factory=list)
    not_checked: list[dict[str, str]] = field(default_factory=list)

    def ok(self, what: str, detail: str = "") -> None:
        self.checked.append({"what": what, "detail": detail})

    def missed(self, what: str, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        entry = {"what": what, "reason": reason, "detail": detail[:500]}
        if entry not in self.not_checked and len(self.not_checked) < 200:
            self.not_checked.append(entry)

    def missed_by(self, what: str) -> bool:
        return any(m["what"] == what for m in self.not_checked)

    @property
    def complete(self) -> bool:
        return not self.not_checked

    def as_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "checked": self.checked,
            "not_checked": self.not_checked,
            "reasons": sorted({m["reason"] for m in self.not_checked}),
        }


def describe(coverage: dict[str, Any] | None) -> str:
    """One line for a summary or the task page: 'coverage complete (5 checks)' or the gaps."""
    if not coverage:
        return "coverage not reported"
    if coverage.get("complete"):
        return f"coverage complete ({len(coverage.get('checked', []))} check(s))"
    missed = coverage.get("not_checked", [])
    shown = "; ".join(f"{m['what']}: {m['reason'].replace('_', ' ')}" for m in missed[:4])
    more = f" and {len(missed) - 4} more" if len(missed) > 4 else ""
    return f"coverage incomplete: {len(missed)} check(s) not done ({shown}{more})"


def qualify(negative: str, coverage: Coverage, *, instead: str) -> tuple[str, list[str]]:
    """`negative` (e.g. 'clean', 'none') stands only on complete coverage; otherwise `instead`
    with the reasons why."""
    if coverage.complete:
        return negative, []
    return instead, [f"{m['what']} not checked: {REASONS[m['reason']]}" for m in coverage.not_checked[:10]]


def of_inputs(
    *, analysed: list[tuple[str, bool]], errors: list[dict[str, str]], limit: str = "row or size limit"
) -> dict[str, Any]:
    """Coverage of agents that read input files: `analysed` is (name, truncated) per input that
    was read, `errors` the inputs that could not be ({"file", "error"})."""
    coverage = Coverage()
    for name, truncated in analysed:
        if truncated:
            coverage.missed(f"the rest of {name}", "limit_hit", f"stopped at the {limit}")
        else:
            coverage.ok(name)
    for error in errors:
        coverage.missed(error["file"], "parser_error", error["error"])
    return coverage.as_dict()
