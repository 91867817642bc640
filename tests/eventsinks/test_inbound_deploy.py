"""Where the inbound consumer runs: a Procfile line `make run` starts only when
AMAS_INBOUND_AMQP_URL is set, a compose service (profile) and a k8s Deployment running the same
command; compose also offers the brokers (RabbitMQ, and Kafka under a profile)."""

from pathlib import Path

import yaml

from amas.supervisor import read_procfile

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "python manage.py inbound_consume"


def test_make_run_starts_the_consumer_only_when_it_is_configured(monkeypatch):
    monkeypatch.delenv("AMAS_INBOUND_AMQP_URL", raising=False)
    assert "inbound" not in {p.name for p in read_procfile(ROOT / "Procfile")}
    monkeypatch.setenv("AMAS_INBOUND_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    programs = {p.name: p.command for p in read_procfile(ROOT / "Procfile")}
    assert programs["inbound"] == COMMAND
    assert {"web", "worker", "beat"} <= set(programs)


def test_compose_has_the_brokers_and_the_consumer():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq") and "healthcheck" in services["rabbitmq"]
    assert services["kafka"]["image"].startswith("apache/kafka") and "healthcheck" in services["kafka"]
    inbound = services["inbound"]
    assert " ".join(inbound["command"]) == COMMAND
    assert inbound["environment"]["AMAS_INBOUND_AMQP_URL"].startswith("amqp://")
    assert {"DATABASE_URL", "REDIS_URL", "AMAS_INBOUND_TOKEN"} <= set(inbound["environment"])
    assert inbound["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}


def test_kubernetes_runs_the_same_command_from_its_own_secret():
    k8s = ROOT / "deploy" / "k8s"
    assert "50-inbound.yaml" in yaml.safe_load((k8s / "kustomization.yaml").read_text())["resources"]
    documents = {d["kind"]: d for d in yaml.safe_load_all((k8s / "50-inbound.yaml").read_text())}
    assert set(documents["Secret"]["stringData"]) == {"AMAS_INBOUND_AMQP_URL", "AMAS_INBOUND_TOKEN"}
    [container] = documents["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert " ".join(container["command"]) == COMMAND
    assert {"secretRef": {"name": "amas-inbound"}} in container["envFrom"]
