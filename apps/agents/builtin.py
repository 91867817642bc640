"""Built-in agents that ship with AMAS. The aggregator summarises every step of a task."""

from collections import Counter

from apps.agents.attribution import generated_by
from apps.agents.base import Agent, AgentContext, AgentResult
from apps.agents.coverage import describe


class AggregatorAgent(Agent):
    type = "aggregator"
    label = "Aggregator"
    description = "Combines the results of every agent of a task into its summary."
    capabilities = frozenset({"aggregation"})
    aggregator = True
    default_queue = "default"

    def run(self, ctx: AgentContext) -> AgentResult:
        results = ctx.previous_results
        by_status = Counter(r["status"] for r in results)
        findings = [
            finding
            for r in results
            for finding in (r.get("data") or {}).get("findings", [])
            if isinstance(finding, dict)
        ]
        severities = Counter(f.get("severity", "info") for f in findings)
        lines = [f"{r['agent']}: {r['summary']}" for r in results if r.get("summary")]
        text = "\n".join(lines) or "No agent produced a summary."
        if ctx.ai is not None and lines:
            text = ctx.ai.summarise(text, purpose="aggregate")
        # Stated after the AI's text, not given to it: a summary may drop it, the task must not.
        gaps = {
            r["agent"]: (r.get("data") or {}).get("coverage")
            for r in results
            if not ((r.get("data") or {}).get("coverage") or {}).get("complete", False)
        }
        if gaps:
            text += (
                "\n\nNot everything was checked: "
                + "; ".join(f"{agent}: {describe(coverage)}" for agent, coverage in gaps.items())
                + ". Absence of findings there is not evidence of absence."
            )
        return AgentResult(
            data={
                "agents": [r["agent"] for r in results],
                "statuses": dict(by_status),
                "findings_by_severity": dict(severities),
                "finding_count": len(findings),
                "coverage_complete": not gaps,
                "incomplete_agents": sorted(gaps),
                "generated_by": generated_by(ctx),
            },
            summary=text,
        )
