"""SSRF: an endpoint whose host is (or starts resolving to) a private address is refused at
delivery time too, without a request leaving AMAS; retrying cannot help, so it is not retried."""

import pytest
from django.test import override_settings

from apps.tasks.services import task_create
from apps.webhooks import deliveries, services
from apps.webhooks.models import WebhookDelivery
from tests.webhooks.conftest import SECRET

pytestmark = pytest.mark.django_db


def test_private_target_is_refused_at_delivery(org_admin, receiver, django_capture_on_commit_callbacks):
    endpoint = services.endpoint_create(
        user=org_admin, name="internal", url=receiver.url, event_types=["task.created"], secret=SECRET
    )
    with override_settings(AMAS_EGRESS_ALLOWLIST=[]):  # the allowlist entry was removed meanwhile
        with django_capture_on_commit_callbacks(execute=True):
            task_create(user=org_admin, title="t", task_type="custom", agents=["test_echo"], target="x")
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert deliveries.delivery_attempt(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None and not attempt.ok
    assert "Refused to connect to 127.0.0.1" in attempt.error
    assert delivery.next_attempt_at is None, "a policy refusal is final"
    assert receiver.received == []


def test_red_tasks_are_not_sent_to_amber_endpoints(org_admin, receiver, django_capture_on_commit_callbacks):
    services.endpoint_create(user=org_admin, name="amber", url=receiver.url, event_types=["*"], secret=SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        task_create(
            user=org_admin,
            title="t",
            task_type="custom",
            agents=["test_echo"],
            target="x",
            classification="red",
        )
    assert not WebhookDelivery.objects.exists()


def test_the_sweep_requeues_overdue_deliveries_only(org_admin, receiver, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    services.endpoint_create(
        user=org_admin, name="r", url=receiver.url, event_types=["task.created"], secret=SECRET
    )
    with django_capture_on_commit_callbacks(execute=True):
        task_create(user=org_admin, title="t", task_type="custom", agents=["test_echo"], target="x")
    delivery = WebhookDelivery.objects.get()
    assert deliveries.deliveries_dispatch_due() == 0, "just due: its message is still on the way"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert deliveries.deliveries_dispatch_due() == 1
