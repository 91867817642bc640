"""Kafka event sinks without a broker (none can run here; tests/eventsinks/test_kafka_contract.py
runs against one when KAFKA_BOOTSTRAP_SERVERS is set): the producer configuration librdkafka is
given (idempotent, acks=all, SASL/TLS from the URL) and accepts, the record of an event (key = task
id, ids in headers), and a broker that is down going through the same deliveries as AMQP sinks:
a retry with back-off and an unhealthy sink."""

import json

import pytest
from confluent_kafka import Producer

from amas.stack import free_port
from apps.eventsinks import deliveries, kafka
from apps.eventsinks.errors import PublishError
from apps.eventsinks.models import EventSink, SinkDelivery, SinkDeliveryStatus, SinkKind
from apps.tasks.services import task_create
from tests.eventsinks.test_amqp_sink import metric_value


def test_the_producer_is_idempotent_waits_for_all_replicas_and_librdkafka_accepts_it():
    config = kafka.producer_config("kafka://k1:9092,k2:9093")
    assert config["bootstrap.servers"] == "k1:9092,k2:9093"
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["security.protocol"] == "PLAINTEXT"
    Producer(config)  # librdkafka refuses unknown or conflicting settings at construction


def test_credentials_in_the_url_mean_sasl_and_kafkas_means_tls():
    config = kafka.producer_config("kafkas://svc%40amas:p%3Ass@k1:9093?mechanism=SCRAM-SHA-512")
    assert config["security.protocol"] == "SASL_SSL"
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (
        "SCRAM-SHA-512",
        "svc@amas",
        "p:ss",
    )
    assert kafka.producer_config("kafka://u:p@k1:9092")["security.protocol"] == "SASL_PLAINTEXT"
    assert kafka.producer_config("kafkas://k1:9093")["security.protocol"] == "SSL"
    Producer(kafka.producer_config("kafka://u:p@k1:9092"))
    with pytest.raises(PublishError, match="kafka://"):
        kafka.producer_config("amqp://k1:5672")


def test_a_record_is_keyed_by_task_and_carries_the_event_id():
    body = json.dumps({"id": "t-1:4", "type": "task.completed"})
    record = kafka.record_for(body=body, message_id="t-1:4", event_type="task.completed", task_id="t-1")
    assert record["key"] == b"t-1"  # one partition per task: its events stay in order
    assert json.loads(record["value"]) == {"id": "t-1:4", "type": "task.completed"}
    assert dict(record["headers"]) == {
        "message_id": b"t-1:4",
        "type": b"task.completed",
        "content-type": b"application/json",
    }
    assert (
        kafka.record_for(body="{}", message_id="test:1", event_type="sink.test", task_id=None)["key"] is None
    )


@pytest.mark.django_db
def test_a_kafka_broker_that_is_down_means_a_retry_through_the_same_deliveries(
    user_factory, settings, django_capture_on_commit_callbacks
):
    from apps.users.models import Role

    settings.AMAS_KAFKA_DELIVERY_TIMEOUT_MS = 1500
    admin = user_factory(role=Role.ADMIN)
    sink = EventSink.objects.create(
        organization=admin.organization,
        name="stream",
        kind=SinkKind.KAFKA,
        url=f"kafka://127.0.0.1:{free_port()}",
        exchange="amas-events",
        event_types=["task.*"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        task_create(user=admin, title="t", task_type="custom", agents=["test_echo"], target="example.org")
    delivery = SinkDelivery.objects.get(sink=sink, event_type="task.created")
    before = metric_value("amas_event_sink_deliveries_total", kind="kafka", outcome="retrying")

    assert deliveries.delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    sink.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (SinkDeliveryStatus.PENDING, 1)
    assert delivery.last_error.startswith("Kafka") and delivery.next_attempt_at is not None
    assert sink.healthy is False
    assert metric_value("amas_event_sink_deliveries_total", kind="kafka", outcome="retrying") == before + 1
