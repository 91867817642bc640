"""Agent utilisation for /metrics, read at scrape time. Registered with core in AgentsConfig.ready()."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from apps.core import metrics


def agent_utilization() -> Iterable[Metric]:
    from apps.agents.concurrency import agent_slots_in_use_many
    from apps.agents.selectors import agent_config_list

    family = GaugeMetricFamily(
        "amas_agent_utilization_percent",
        "Concurrency slots in use per agent config, in percent of its limit (all workers).",
        labels=["agent", "config"],
    )
    configs = list(agent_config_list(enabled=True))
    in_use = agent_slots_in_use_many([c.pk for c in configs])
    for config in configs:
        limit = max(1, config.concurrency_limit)
        family.add_metric([config.agent_type, config.name], 100.0 * in_use.get(config.pk, 0) / limit)
    yield family


def register() -> None:
    metrics.register_gauge_source(agent_utilization)
