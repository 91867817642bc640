"""The event-sink REST API: an organisation admin creates, lists, changes, test-sends and deletes
sinks of both kinds; the broker password is stored encrypted and never answered; bad input is a
422 naming the field; a test-send reaches the real RabbitMQ and its delivery record shows it."""

import json
import time
from http import HTTPStatus

import amqp
import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.eventsinks.models import EventSink
from apps.users.models import Role
from apps.users.services import token_create
from tests.users.factories import enable_totp

pytestmark = pytest.mark.django_db

PASSWORD = "br0ker-s3cret"


@pytest.fixture
def admin_api(client, user_factory):
    admin = user_factory(role=Role.ADMIN)
    enable_totp(admin)  # admins' tokens work only once they use MFA
    secret = token_create(user=admin, name="sinks", scopes=["admin"]).secret
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    client.admin = admin
    return client


def post(api, path, body):
    return api.post(f"/api/v1{path}", data=json.dumps(body), content_type="application/json")


def test_an_admin_manages_sinks_and_never_sees_the_password_again(admin_api):
    created = post(
        admin_api,
        "/event-sinks",
        {"name": "rabbit", "url": f"amqp://amas:{PASSWORD}@rabbitmq:5672/prod", "event_types": ["task.*"]},
    )
    assert created.status_code == HTTPStatus.CREATED, created.content
    sink = created.json()
    assert sink["url"] == "amqp://amas:***@rabbitmq:5672/prod" and sink["healthy"] is None
    kafka = post(
        admin_api,
        "/event-sinks",
        {
            "name": "stream",
            "kind": "kafka",
            "url": f"kafkas://svc:{PASSWORD}@k1:9093,k2:9093?mechanism=SCRAM-SHA-512",
            "exchange": "amas-events",
            "event_types": ["*"],
            "max_classification": "green",
        },
    )
    assert kafka.status_code == HTTPStatus.CREATED, kafka.content

    listed = admin_api.get("/api/v1/event-sinks")
    assert [s["name"] for s in listed.json()] == ["rabbit", "stream"]
    changed = admin_api.patch(
        f"/api/v1/event-sinks/{sink['id']}",
        data=json.dumps({"exchange": "amas.audit", "active": False}),
        content_type="application/json",
    )
    assert changed.status_code == HTTPStatus.OK
    assert (changed.json()["exchange"], changed.json()["active"]) == ("amas.audit", False)

    everything = b"".join(
        admin_api.get(path).content
        for path in (
            "/api/v1/event-sinks",
            f"/api/v1/event-sinks/{sink['id']}",
            "/api/v1/event-sinks/deliveries",
        )
    )
    assert PASSWORD.encode() not in everything + created.content + kafka.content + changed.content
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT url FROM eventsinks_eventsink")
        assert not any(PASSWORD in row[0] or "rabbitmq" in row[0] for row in cursor.fetchall())
    assert EventSink.objects.get(pk=sink["id"]).url.endswith(f":{PASSWORD}@rabbitmq:5672/prod")
    audit = " ".join(str(e.changes) for e in AuditEvent.objects.filter(entity_type="event_sink"))
    assert "***" in audit and PASSWORD not in audit

    assert admin_api.delete(f"/api/v1/event-sinks/{sink['id']}").status_code == HTTPStatus.NO_CONTENT
    assert admin_api.get(f"/api/v1/event-sinks/{sink['id']}").status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"url": "http://broker:5672/"}, "url", "amqp://"),
        ({"kind": "kafka", "url": "amqp://broker:5672/"}, "url", "kafka://"),
        ({"kind": "kafka", "url": "kafka://k1:9092,k2"}, "url", "host:port"),
        ({"url": "amqp://broker:99999/"}, "url", "Not a valid URL"),
        ({"event_types": ["task.*", "tasks.created"]}, "event_types", "tasks.created"),
        ({"exchange": "amq.topic"}, "exchange", "amq."),
        ({"kind": "kafka", "url": "kafka://k:9092", "exchange": "a topic"}, "exchange", "topic name"),
        ({"name": "   "}, "name", "name"),
    ],
)
def test_bad_sinks_are_refused_naming_the_field(admin_api, change, field, words):
    body = {"name": "s", "url": "amqp://u:p@broker:5672/", "event_types": ["task.*"], **change}
    response = post(admin_api, "/event-sinks", body)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, response.content
    assert response.json()["field"] == field and words in response.json()["detail"]
    assert not EventSink.objects.exists()


def test_a_second_sink_of_the_same_name_is_a_conflict(admin_api):
    body = {"name": "rabbit", "url": "amqp://u:p@broker:5672/", "event_types": ["task.*"]}
    assert post(admin_api, "/event-sinks", body).status_code == HTTPStatus.CREATED
    again = post(admin_api, "/event-sinks", body)
    assert again.status_code == HTTPStatus.CONFLICT and again.json()["field"] == "name"


@pytest.mark.django_db(transaction=True)
def test_a_test_send_reaches_the_broker_and_its_delivery_is_listed(admin_api, rabbitmq, celery_worker):
    connection_ = amqp.Connection(f"{rabbitmq.host}:{rabbitmq.port}")
    connection_.connect()
    channel = connection_.channel()
    channel.exchange_declare("amas.sinktest", "topic", durable=True, auto_delete=False)
    queue, _, _ = channel.queue_declare("", exclusive=True)
    channel.queue_bind(queue, "amas.sinktest", routing_key="sink.test")
    try:
        sink = post(
            admin_api,
            "/event-sinks",
            {"name": "rabbit", "url": rabbitmq.url, "exchange": "amas.sinktest", "event_types": ["task.*"]},
        ).json()
        sent = admin_api.post(f"/api/v1/event-sinks/{sink['id']}/test")
        assert sent.status_code == HTTPStatus.ACCEPTED
        delivery = sent.json()
        assert (delivery["event_type"], delivery["status"]) == ("sink.test", "pending")

        deadline = time.monotonic() + 30
        while (message := channel.basic_get(queue, no_ack=True)) is None:
            assert time.monotonic() < deadline, "the test message never arrived"
            time.sleep(0.2)
        assert message.properties["message_id"] == delivery["event_id"]
        assert json.loads(message.body)["data"]["by"] == admin_api.admin.email

        deadline = time.monotonic() + 30
        while True:
            listed = admin_api.get(
                "/api/v1/event-sinks/deliveries", {"sink": sink["id"], "status": "succeeded"}
            )
            if listed.json()["count"] == 1:
                break
            assert time.monotonic() < deadline, listed.json()
            time.sleep(0.2)
        assert listed.json()["items"][0]["id"] == delivery["id"]
        assert admin_api.get(f"/api/v1/event-sinks/{sink['id']}").json()["healthy"] is True
    finally:
        connection_.close()


def test_a_disabled_sink_is_not_test_sent(admin_api):
    sink = post(
        admin_api,
        "/event-sinks",
        {"name": "off", "url": "amqp://u:p@broker:5672/", "event_types": ["*"], "active": False},
    ).json()
    response = admin_api.post(f"/api/v1/event-sinks/{sink['id']}/test")
    assert response.status_code == HTTPStatus.CONFLICT and "enable it" in response.json()["detail"]


def test_ids_beyond_the_database_s_range_are_not_found(admin_api):
    huge = 10**20
    assert admin_api.get(f"/api/v1/event-sinks/{huge}").status_code == HTTPStatus.NOT_FOUND
    listed = admin_api.get("/api/v1/event-sinks/deliveries", {"sink": huge})
    assert listed.status_code == HTTPStatus.OK and listed.json()["count"] == 0
    bad = admin_api.get("/api/v1/event-sinks/deliveries", {"status": "lost"})
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "status" in bad.json()["detail"]
