"""Webhook gauges for /metrics, read at scrape time. Registered with core in WebhooksConfig.ready()."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from apps.core import metrics


def webhook_gauges() -> Iterable[Metric]:
    from apps.webhooks.selectors import deliveries_pending_count, endpoint_counts

    family = GaugeMetricFamily("amas_webhook_endpoints", "Webhook endpoints by state.", labels=["state"])
    for state, count in endpoint_counts().items():
        family.add_metric([state], count)
    yield family
    yield GaugeMetricFamily(
        "amas_webhook_deliveries_pending",
        "Deliveries waiting for their next attempt.",
        value=deliveries_pending_count(),
    )


def register() -> None:
    metrics.register_gauge_source(webhook_gauges)
