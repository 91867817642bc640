"""Kafka event sinks against a real broker. No Kafka can be installed here, so this runs only when
KAFKA_BOOTSTRAP_SERVERS names one, e.g.:

    docker run -d -p 9092:9092 apache/kafka:3.9.1 && \
    KAFKA_BOOTSTRAP_SERVERS=localhost:9092 venv/bin/pytest tests/eventsinks/test_kafka_contract.py

A task's events are produced to the sink's topic with key = task id (one partition, in order), the
stable event id in the message_id header, and every delivery is recorded as succeeded."""

import json
import os
import time
import uuid

import pytest

from apps.eventsinks.models import EventSink, SinkDelivery, SinkKind
from apps.tasks.models import TaskEvent
from apps.tasks.services import task_create

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")

pytestmark = [
    pytest.mark.skipif(
        not BOOTSTRAP, reason="KAFKA_BOOTSTRAP_SERVERS is not set (no Kafka broker to test against)"
    ),
    pytest.mark.django_db(transaction=True),
]


def wait_until(condition, timeout: float = 60.0, describe=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"condition not met in time {describe()}")


@pytest.fixture
def topic():
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"amas-test-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def consume(topic: str, count: int, timeout: float = 60.0) -> list:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"amas-test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    records, deadline = [], time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            record = consumer.poll(1.0)
            if record is not None and record.error() is None:
                records.append(record)
    finally:
        consumer.close()
    return records


def test_a_task_s_events_reach_the_topic_keyed_by_task_in_order(user_factory, topic, celery_worker):
    from apps.users.models import Role

    admin = user_factory(role=Role.ADMIN)
    sink = EventSink.objects.create(
        organization=admin.organization,
        name="stream",
        kind=SinkKind.KAFKA,
        url=f"kafka://{BOOTSTRAP}",
        exchange=topic,
        event_types=["task.*"],
    )
    task = task_create(user=admin, title="t", task_type="custom", agents=["test_echo"], target="example.org")
    wait_until(lambda: TaskEvent.objects.filter(task=task, type="task.completed").exists())
    expected = [
        (f"{e.task_id}:{e.seq}", e.type)
        for e in TaskEvent.objects.filter(task=task, type__startswith="task.").order_by("seq")
    ]
    wait_until(
        lambda: SinkDelivery.objects.filter(sink=sink, status="succeeded").count() == len(expected),
        describe=lambda: list(
            SinkDelivery.objects.filter(sink=sink).values_list("event_type", "status", "last_error")
        ),
    )

    records = consume(topic, len(expected))
    assert {r.key() for r in records} == {str(task.id).encode()}
    assert len({r.partition() for r in records}) == 1
    # Deliveries are separate Celery tasks: ids and types must all arrive; order within the
    # partition is the order they were produced in.
    assert sorted((json.loads(r.value())["id"], json.loads(r.value())["type"]) for r in records) == sorted(
        expected
    )
    for record in records:
        assert dict(record.headers())["message_id"].decode() == json.loads(record.value())["id"]
    sink.refresh_from_db()
    assert sink.healthy and sink.total_successes == len(expected)
