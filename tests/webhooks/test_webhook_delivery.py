"""Deliveries end to end: a real task on a real worker produces events, the `webhooks` queue
delivers them to a local receiver that verifies every signature."""

import time
from http import HTTPStatus

import pytest
from django.test import override_settings

from apps.audit.models import AuditEvent
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import create_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def submit(api, **body):
    body.setdefault("title", "webhook task")
    body.setdefault("task_type", "custom")
    body.setdefault("agents", ["test_echo"])
    body.setdefault("target", "example.org")
    response = api.post("/api/v1/tasks", body, content_type="application/json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()


def wait_until(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        time.sleep(0.05)
    return found


def test_receiver_fails_twice_then_succeeds(admin_api, receiver, celery_worker):
    receiver.plan = [500, 503]
    endpoint = create_endpoint(admin_api, receiver.url, ["task.completed"])
    task = submit(admin_api)

    received = receiver.wait_for(3)
    assert all(r.verified for r in received), "every attempt carries a valid signature"
    assert len({r.headers["X-AMAS-Delivery"] for r in received}) == 1, "retries keep the delivery id"
    assert [r.headers["X-AMAS-Attempt"] for r in received] == ["1", "2", "3"]
    assert {r.headers["X-AMAS-Event"] for r in received} == {"task.completed"}
    assert received[0].body == received[2].body, "the body is byte for byte the same on every retry"
    body = received[2].json
    assert body["type"] == "task.completed"
    assert body["task"]["id"] == task["id"] and body["task"]["status"] == "completed"
    assert body["id"].startswith(task["id"] + ":")

    delivery = wait_until(lambda: WebhookDelivery.objects.filter(status="succeeded").first())
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert [a.ok for a in attempts] == [False, False, True]
    assert attempts[0].next_retry_at is not None and attempts[1].next_retry_at > attempts[0].next_retry_at
    assert attempts[0].response_excerpt == "receiver says no"
    assert all(a.latency_ms >= 0 for a in attempts)
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert (stored.consecutive_failures, stored.total_failures, stored.total_successes) == (0, 2, 1)

    # The delivery log as an admin reads it.
    detail = admin_api.get(f"/api/v1/webhooks/deliveries/{delivery.id}").json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 503, 200]


def test_replay_sends_the_event_again_as_a_new_delivery(admin_api, receiver, celery_worker):
    create_endpoint(admin_api, receiver.url, ["task.created"])
    submit(admin_api)
    first = receiver.wait_for(1)[0]
    original = wait_until(lambda: WebhookDelivery.objects.filter(status="succeeded").first())

    response = admin_api.post(f"/api/v1/webhooks/deliveries/{original.id}/replay")
    assert response.status_code == HTTPStatus.ACCEPTED, response.content
    replay = receiver.wait_for(2)[1]
    assert replay.verified
    assert replay.headers["X-AMAS-Delivery"] == response.json()["id"] != first.headers["X-AMAS-Delivery"]
    assert replay.headers["X-AMAS-Event-Id"] == first.headers["X-AMAS-Event-Id"]
    assert replay.body == first.body
    stored = WebhookDelivery.objects.get(pk=response.json()["id"])
    assert stored.replay_of_id == original.id
    assert AuditEvent.objects.filter(event_type="webhook.replay").exists()


def test_410_gone_disables_the_endpoint_with_an_audit_row(admin_api, receiver, celery_worker):
    receiver.default = 410
    endpoint = create_endpoint(admin_api, receiver.url, ["task.created", "task.completed"])
    submit(admin_api)
    wait_until(lambda: not WebhookEndpoint.objects.get(pk=endpoint["id"]).active)
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert "410" in stored.disabled_reason
    audit = AuditEvent.objects.get(event_type="webhook.auto_disable")
    assert audit.entity_id == str(endpoint["id"])
    assert receiver.received[0].headers["X-AMAS-Attempt"] == "1"
    assert WebhookDelivery.objects.filter(attempts__gt=1).count() == 0, "410 is never retried"


@override_settings(AMAS_WEBHOOK_DISABLE_AFTER_FAILURES=3, AMAS_WEBHOOK_MAX_ATTEMPTS=10)
def test_repeated_failures_disable_the_endpoint(admin_api, receiver, celery_worker):
    receiver.default = 500
    endpoint = create_endpoint(admin_api, receiver.url, ["task.created"])
    submit(admin_api)
    wait_until(lambda: not WebhookEndpoint.objects.get(pk=endpoint["id"]).active)
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.consecutive_failures == 3
    assert "3 consecutive failed attempts" in stored.disabled_reason
    delivery = WebhookDelivery.objects.get(endpoint_id=endpoint["id"])
    assert delivery.status == "cancelled" and delivery.attempt_log.count() == 3
    assert AuditEvent.objects.filter(
        event_type="webhook.auto_disable", entity_id=str(endpoint["id"])
    ).exists()
    time.sleep(1.5)  # longer than the next backoff would have been
    assert len(receiver.received) == 3
