"""Decision engine: what reading agent history costs per plan.

    venv/bin/python bench/decision.py [--candidates 8] [--results 200] [--decisions 200]

Fills a private embedded Postgres (+ Redis for the cache) with `--candidates` agent configs of one
agent type and `--results` finished results each (with provider-ledger rows on a third of the
steps), then times `plan_for_task` for one task, one decision at a time, three ways in the same run:
- baseline: the history read as it was before issue 13 (per candidate: one results query and one
  ledger query, inside agents/decision.py), reimplemented here as the old code did it;
- one query: the tasks app's reader (apps.tasks.agent_history) with the cache off;
- cached: the same reader with AMAS_DECISION_HISTORY_CACHE_SECONDS = 30 and no Result written
  between decisions (the common case between two finished steps).
Reports p50/p95 per decision and queries per decision. Not part of the test run; figures go to
docs/benchmarks.md ("## Decision engine: agent history").
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _stack import BenchStack, percentile


def fill(candidates: int, results: int) -> object:
    from decimal import Decimal

    from apps.agents.models import AgentConfig
    from apps.providers.models import Provider, ProviderCall
    from apps.tasks.models import Result, StepStatus, Task, TaskStep
    from apps.users.services import organization_get_or_create

    org = organization_get_or_create(name="bench")
    AgentConfig.objects.filter(agent_type="bench_decide").delete()
    configs = [
        AgentConfig.objects.create(agent_type="bench_decide", name=f"bench-{i}", enabled=True)
        for i in range(candidates)
    ]
    provider = Provider.objects.order_by("pk").first()
    rng = random.Random(7)
    history_task = Task.objects.create(organization=org, title="history", task_type="investigation")
    steps, rows = [], []
    for config in configs:
        for _ in range(results):
            steps.append(
                TaskStep(
                    task=history_task,
                    agent_type="bench_decide",
                    agent_config_id=config.pk,
                    status=StepStatus.COMPLETED,
                    position=len(steps),
                )
            )
    TaskStep.objects.bulk_create(steps)
    for step in steps:
        ok = rng.random() < 0.8
        rows.append(
            Result(
                task=history_task,
                step=step,
                agent="bench_decide",
                status="completed" if ok else "failed",
                processing_time_ms=rng.randint(50, 5000),
                cost=Decimal(str(round(rng.random() / 100, 6))),
            )
        )
    Result.objects.bulk_create(rows)
    if provider is not None:
        ProviderCall.objects.bulk_create(
            [
                ProviderCall(
                    provider=provider, task=history_task, step=step, cost=Decimal("0.002"), outcome="ok"
                )
                for step in steps[::3]
            ]
        )
    return Task.objects.create(
        organization=org, title="decide me", task_type="investigation", target="example.org"
    )


class PerCandidateHistory:
    """The pre-issue-13 read: per candidate one results query and one ledger query."""

    def outcomes(self, *, task_type, keys, window):
        from django.db.models import Sum

        from apps.agents.history import FAILURE, SUCCESS, Outcome
        from apps.providers.models import ProviderCall
        from apps.tasks.models import Result

        out = {}
        for agent_type, config_id in keys:
            results = Result.objects.filter(task__task_type=task_type, status__in=(SUCCESS, *FAILURE))
            if config_id is not None:
                results = results.filter(step__agent_config_id=config_id)
            else:
                results = results.filter(agent=agent_type, step__agent_config_id__isnull=True)
            rows = list(
                results.order_by("-created_at").values_list(
                    "status", "processing_time_ms", "cost", "step_id"
                )[:window]
            )
            rows.reverse()
            step_ids = [r[-1] for r in rows]
            ledger = {}
            if step_ids:
                calls = ProviderCall.objects.filter(step_id__in=step_ids)
                ledger = {
                    r["step_id"]: float(r["total"])
                    for r in calls.values("step_id").annotate(total=Sum("cost"))
                }
            out[(agent_type, config_id)] = [
                Outcome(s, int(ms), max(float(c), ledger.get(sid, 0.0))) for s, ms, c, sid in rows
            ]
        return out

    def running_steps(self, *, config_ids):
        from apps.tasks.agent_history import TaskAgentHistory

        return TaskAgentHistory().running_steps(config_ids=config_ids)


def measure(task, decisions: int) -> tuple[list[float], float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.agents.planner import plan_for_task

    plan_for_task(task, rng=random.Random(0))  # warm (imports, first connection, first cache fill)
    times, queries = [], []
    for i in range(decisions):
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            plan_for_task(task, rng=random.Random(i))
            times.append((time.perf_counter() - t0) * 1000)
        queries.append(len(captured.captured_queries))
    return times, statistics.fmean(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=200)
    args = parser.parse_args()

    stack = BenchStack()
    try:
        stack.start()
        from django.conf import settings

        from apps.agents import history
        from apps.agents.base import Agent, AgentResult
        from apps.agents.registry import agent_registry
        from apps.tasks.agent_history import TaskAgentHistory

        class DecideAgent(Agent):
            type = "bench_decide"
            label = "Decide (benchmark)"
            capabilities = frozenset({"enrich"})
            task_types = frozenset({"investigation"})
            target_kinds = frozenset({"domain"})

            def run(self, ctx):
                return AgentResult()

        with agent_registry.registered(DecideAgent):
            for agent_type in agent_registry.types():
                if agent_type != "bench_decide":
                    agent_registry.unregister(agent_type)
            task = fill(args.candidates, args.results)
            rows = []
            history.register_agent_history(PerCandidateHistory())
            settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 0
            rows.append(("baseline: per-candidate queries", *measure(task, args.decisions)))
            history.register_agent_history(TaskAgentHistory())
            rows.append(("one query (cache off)", *measure(task, args.decisions)))
            settings.AMAS_DECISION_HISTORY_CACHE_SECONDS = 30
            rows.append(("one query, cached", *measure(task, args.decisions)))
        base = percentile(rows[0][1], 50)
        print(
            f"{args.candidates} candidates x {args.results} results each, {args.decisions} decisions, "
            "one at a time\n"
        )
        print("| history read | p50 ms | p95 ms | queries per decision | p50 vs baseline |")
        print("|---|---|---|---|---|")
        for name, times, queries in rows:
            p50 = percentile(times, 50)
            print(f"| {name} | {p50:.2f} | {percentile(times, 95):.2f} | {queries:.1f} | {base / p50:.2f}x |")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
