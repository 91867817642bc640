"""AMQP event sinks against a real RabbitMQ: task events are published to the sink's topic
exchange (routing key = event type) as persistent messages confirmed by the broker, with the stable
event id as message_id; TLP and subscriptions filter; a broker that is down means retries with
the same id and a sink that shows it is unhealthy."""

import json
import time

import pytest

from apps.eventsinks import deliveries
from apps.eventsinks.models import EventSink, SinkDelivery, SinkDeliveryStatus
from apps.tasks.models import TaskEvent
from apps.tasks.services import task_create


def wait_until(condition, timeout: float = 60.0, describe=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"condition not met in time {describe()}")


def make_sink(user, url, exchange, **fields):
    return EventSink.objects.create(
        organization=user.organization,
        name=fields.pop("name", "broker"),
        url=url,
        exchange=exchange,
        event_types=fields.pop("event_types", ["task.*"]),
        **fields,
    )


def create_task(user, **fields):
    return task_create(
        user=user, title="t", task_type="custom", agents=["test_echo"], target="example.org", **fields
    )


@pytest.mark.django_db(transaction=True)
def test_a_task_s_events_reach_the_exchange_confirmed_and_persistent(
    org_admin, rabbitmq, consumer, celery_worker
):
    sink = make_sink(org_admin, rabbitmq.url, consumer.exchange)
    task = create_task(org_admin)

    wait_until(lambda: TaskEvent.objects.filter(task=task, type="task.completed").exists())
    expected = {
        f"{e.task_id}:{e.seq}": e.type for e in TaskEvent.objects.filter(task=task, type__startswith="task.")
    }
    wait_until(
        lambda: (
            SinkDelivery.objects.filter(sink=sink, status="succeeded").count() == len(expected)
            and not SinkDelivery.objects.filter(sink=sink).exclude(status="succeeded").exists()
        ),
        describe=lambda: list(
            SinkDelivery.objects.filter(sink=sink).values_list(
                "event_type", "status", "attempts", "last_error"
            )
        ),
    )
    received = consumer.drain()
    bodies = [json.loads(m.body) for m in received]
    assert {b["id"]: b["type"] for b in bodies} == expected  # each task event once
    for message, body in zip(received, bodies, strict=True):
        assert message.properties["message_id"] == body["id"]
        assert message.properties["delivery_mode"] == 2  # persistent
        assert message.delivery_info["routing_key"] == body["type"]
        assert body["task"]["id"] == str(task.id)
    sink.refresh_from_db()
    assert sink.healthy and sink.total_successes == len(expected)


@pytest.mark.django_db
def test_red_tasks_and_unsubscribed_events_are_not_published(
    org_admin, rabbitmq, django_capture_on_commit_callbacks
):
    make_sink(org_admin, rabbitmq.url, "amas.amber", name="amber", event_types=["*"])
    make_sink(
        org_admin, rabbitmq.url, "amas.steps", name="steps", event_types=["step.*"], max_classification="red"
    )
    with django_capture_on_commit_callbacks(execute=True):
        create_task(org_admin, classification="red")
    assert not SinkDelivery.objects.exists()


@pytest.mark.django_db
def test_a_broker_that_is_down_means_a_retry_with_the_same_message_id(
    org_admin, rabbitmq, consumer, django_capture_on_commit_callbacks
):
    from amas.stack import free_port

    sink = make_sink(org_admin, f"amqp://guest:guest@127.0.0.1:{free_port()}/", consumer.exchange)
    with django_capture_on_commit_callbacks(execute=True):
        create_task(org_admin)
    delivery = SinkDelivery.objects.get(sink=sink, event_type="task.created")

    assert deliveries.delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    sink.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (SinkDeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at is not None and "Connection refused" in delivery.last_error
    assert sink.healthy is False and sink.consecutive_failures == 1

    EventSink.objects.filter(pk=sink.pk).update(url=rabbitmq.url)  # the broker is reachable again
    assert deliveries.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    [message] = wait_until(consumer.drain, timeout=10)
    assert message.properties["message_id"] == delivery.event_id == json.loads(message.body)["id"]
    sink.refresh_from_db()
    assert sink.healthy and sink.consecutive_failures == 0
    assert deliveries.delivery_attempt(delivery_id=delivery.pk) == "skipped"  # done is done


def metric_value(name: str, **labels) -> float:
    from apps.core import metrics

    text = metrics.render()[0].decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    assert wanted, "no labels given"
    return 0.0


@pytest.mark.django_db
def test_overdue_retries_are_swept_and_attempts_counted(org_admin, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from amas.stack import free_port

    sink = make_sink(org_admin, f"amqp://guest:guest@127.0.0.1:{free_port()}/", "amas.down")
    with django_capture_on_commit_callbacks(execute=True):
        create_task(org_admin)
    delivery = SinkDelivery.objects.get(sink=sink, event_type="task.created")
    before = metric_value("amas_event_sink_deliveries_total", kind="amqp", outcome="retrying")
    deliveries.delivery_attempt(delivery_id=delivery.pk)
    assert metric_value("amas_event_sink_deliveries_total", kind="amqp", outcome="retrying") == before + 1

    assert deliveries.deliveries_dispatch_due() == 0  # its retry is not overdue yet
    SinkDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert deliveries.deliveries_dispatch_due() == 1


@pytest.mark.django_db
def test_the_admin_names_what_is_wrong_with_a_sink(org_admin):
    from django.core.exceptions import ValidationError

    sink = EventSink(
        organization=org_admin.organization,
        name="bad",
        url="http://broker.example:5672/",
        exchange="x",
        event_types=["task.*", "tasks.created"],
    )
    with pytest.raises(ValidationError) as info:
        sink.full_clean()
    assert "amqp://" in str(info.value.message_dict["url"])
    assert "tasks.created" in str(info.value.message_dict["event_types"])


@pytest.mark.django_db
def test_failing_sinks_show_in_service_health(org_admin, rabbitmq):
    from django.utils import timezone

    from apps.core.service_health import service_health

    def node():
        return next(n for n in service_health()["nodes"] if n["name"] == "event_sinks")

    ok = make_sink(org_admin, rabbitmq.url, "amas.ok", name="ok")
    assert node()["state"] == "up"
    EventSink.objects.filter(pk=ok.pk).update(last_success_at=timezone.now())
    bad = make_sink(org_admin, rabbitmq.url, "amas.bad", name="bad")
    EventSink.objects.filter(pk=bad.pk).update(
        consecutive_failures=3, last_failure_at=timezone.now(), last_error="ConnectionRefusedError"
    )
    state = node()
    assert state["state"] == "degraded" and "bad" in state["detail"]
    assert state["info"]["sinks"]["bad"]["error"] == "ConnectionRefusedError"
    EventSink.objects.filter(pk=ok.pk).update(consecutive_failures=1, last_failure_at=timezone.now())
    assert node()["state"] == "down"
