"""deploy/: every Kubernetes manifest parses, every container has probes and resources, the
topology matches the runtime (a worker per queue, one beat), and the alert rules and the Grafana
dashboard only use metrics AMAS exports."""

import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from apps.core import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def documents() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = path.name
                docs.append(doc)
    return docs


def of_kind(kind: str) -> list[dict]:
    return [d for d in documents() if d["kind"] == kind]


def containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"]


def test_every_manifest_parses_and_is_namespaced():
    docs = documents()
    assert {"Deployment", "Service", "Ingress", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= {
        d["kind"] for d in docs
    }
    assert {"PodDisruptionBudget", "Job", "Namespace", "Kustomization"} <= {d["kind"] for d in docs}
    for doc in docs:
        if doc["kind"] not in ("Namespace", "Kustomization"):
            assert doc["metadata"]["namespace"] == "amas", doc["metadata"]["name"]


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_deployments_have_probes_and_resources(deployment):
    spec = deployment["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    for container in containers(deployment):
        for probe in ("livenessProbe", "readinessProbe"):
            assert probe in container, f"{deployment['metadata']['name']}: no {probe}"
            assert {"httpGet", "exec"} & set(container[probe]), container[probe]
        resources = container["resources"]
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[section]), f"{container['name']}: {section}"
        # The shared configuration first; a component may add its own Secret (the inbound consumer).
        assert container["envFrom"][:2] == [
            {"configMapRef": {"name": "amas-config"}},
            {"secretRef": {"name": "amas-secrets"}},
        ]
        assert all(set(ref) == {"secretRef"} for ref in container["envFrom"][2:])
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_web_probes_are_health_and_ready():
    (web,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "amas-web"]
    (container,) = containers(web)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "daphne" in container["command"]


def test_a_worker_deployment_per_queue_and_one_beat():
    workers = {}
    for doc in of_kind("Deployment"):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") == "worker":
            command = " ".join(containers(doc)[0]["command"])
            queue = re.search(r"-Q (\S+)", command).group(1)
            assert queue == labels["amas.io/queue"]
            workers[queue] = doc
    assert set(workers) == set(settings.AMAS_QUEUES)
    (beat,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "amas-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert "DatabaseScheduler" in " ".join(containers(beat)[0]["command"])
    assert not [
        h for h in of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == "amas-beat"
    ]


def test_autoscalers_and_disruption_budgets_point_at_deployments():
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    # Optional components (the inbound consumer) ship at 0 replicas: the operator scales them.
    optional = {n for n, d in deployments.items() if d["spec"].get("replicas") == 0}
    assert optional <= {"amas-inbound"}
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind("HorizontalPodAutoscaler")}
    assert scaled == set(deployments) - {"amas-beat"} - optional
    for hpa in of_kind("HorizontalPodAutoscaler"):
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    budgeted = set()
    for pdb in of_kind("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"].items()
        matches = [
            n
            for n, d in deployments.items()
            if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, (pdb["metadata"]["name"], matches)
        budgeted.add(matches[0])
    assert budgeted == set(deployments) - optional


def test_ingress_routes_websockets_to_the_web_service():
    (ingress,) = of_kind("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    paths = {p["path"]: p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert "/ws/" in paths and "/" in paths
    services = {s["metadata"]["name"] for s in of_kind("Service")}
    assert {p["backend"]["service"]["name"] for p in paths.values()} <= services
    assert ingress["spec"]["tls"]


def test_kustomization_lists_every_manifest_but_the_job():
    (kustomization,) = of_kind("Kustomization")
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml", "10-migrate-job.yaml"}
    assert set(kustomization["resources"]) == files


def known_metric_names() -> set[str]:
    names = set()
    for metric in metrics._metrics.values():
        names.add(metric.name)
        if metric.kind == "histogram":
            names |= {f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count"}
    # Gauges computed at scrape time, and Prometheus' own `up`.
    names |= {
        "amas_queue_depth",
        "amas_active_connections",
        "amas_agent_utilization_percent",
        "amas_ai_provider_breaker_state",
        "amas_webhook_endpoints",
        "amas_webhook_deliveries_pending",
        "amas_metrics_store_up",
        "up",
    }
    return names


def used_metrics(expr: str) -> set[str]:
    return {m for m in re.findall(r"\b(amas_[a-z_]+|up)\b(?=\s*[{\[)]|\s*[=<>!]|\s*$)", expr)}


def test_alert_rules_use_exported_metrics():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    known = known_metric_names()
    count = 0
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"] and rule["labels"]["severity"]
            used = used_metrics(rule["expr"])
            assert used, rule["alert"]
            assert used <= known, (rule["alert"], used - known)
            count += 1
    assert count >= 10


def test_grafana_dashboard_uses_exported_metrics():
    dashboard = json.loads((DEPLOY / "grafana" / "amas.json").read_text())
    known = known_metric_names()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    for expr in exprs:
        used = used_metrics(expr)
        assert used and used <= known, (expr, used - known)
    for required in ("amas_tasks_created_total", "amas_queue_depth", "amas_ai_provider_calls_total"):
        assert any(required in e for e in exprs)
