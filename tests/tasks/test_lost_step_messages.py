"""A queued step whose message the broker lost (sent while Redis was down, lost in a Redis
restart, or held by a worker that died) is sent again by the reaper within seconds, once per
interval, and a step message that meets an unavailable database is retried, not dropped."""

import json
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from apps.tasks import broker
from apps.tasks.models import TaskStep
from apps.tasks.reaper import steps_resend_lost
from tests.tasks.conftest import submit

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "killable"  # test_slow_killable's queue: no worker consumes it in these tests


@pytest.fixture
def broker_client():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*broker._queue_keys([QUEUE]), broker.UNACKED, broker.UNACKED_INDEX)
    yield client
    client.delete(*broker._queue_keys([QUEUE]), broker.UNACKED, broker.UNACKED_INDEX)
    client.close()


def queued_step(api) -> TaskStep:
    body = submit(api, agents=["test_slow_killable"], parameters={"test_slow_killable": {"seconds": 1}})
    step = TaskStep.objects.get(task_id=body["id"])
    assert step.status == "queued"
    return step


def age(step: TaskStep, seconds: float) -> None:
    TaskStep.objects.filter(pk=step.pk).update(queued_at=timezone.now() - timedelta(seconds=seconds))


def messages_in_queue(client) -> list[str]:
    return [
        json.loads(raw)["headers"]["id"]
        for key in broker._queue_keys([QUEUE])
        for raw in client.lrange(key, 0, -1)
    ]


@override_settings(AMAS_STEP_LOST_AFTER_SECONDS=5)
def test_a_step_whose_message_is_waiting_in_the_broker_is_left_alone(api, broker_client):
    step = queued_step(api)
    assert messages_in_queue(broker_client) == [step.celery_task_id]
    age(step, 60)
    assert steps_resend_lost() == 0
    step.refresh_from_db()
    assert messages_in_queue(broker_client) == [step.celery_task_id]


@override_settings(AMAS_STEP_LOST_AFTER_SECONDS=5)
def test_a_lost_message_is_sent_again_once(api, broker_client):
    step = queued_step(api)
    lost_id = step.celery_task_id
    broker_client.delete(*broker._queue_keys([QUEUE]))  # what a Redis restart without AOF does
    age(step, 60)
    before = timezone.now()

    assert steps_resend_lost() == 1
    step.refresh_from_db()
    assert step.status == "queued"
    assert step.celery_task_id != lost_id
    assert step.queued_at >= before  # the re-send counts as the new queueing time
    assert messages_in_queue(broker_client) == [step.celery_task_id]
    # The next pass sees the new message (and the step is young again): nothing more is sent.
    assert steps_resend_lost() == 0
    assert len(messages_in_queue(broker_client)) == 1


@override_settings(AMAS_STEP_LOST_AFTER_SECONDS=5)
def test_a_young_step_is_not_checked(api, broker_client):
    step = queued_step(api)
    broker_client.delete(*broker._queue_keys([QUEUE]))
    assert steps_resend_lost() == 0  # its message may still be on its way after commit
    step.refresh_from_db()
    age(step, 60)
    assert steps_resend_lost() == 1


@override_settings(AMAS_STEP_LOST_AFTER_SECONDS=5)
def test_a_message_held_by_a_dead_worker_counts_as_lost(api, broker_client):
    step = queued_step(api)
    # Move the message into `unacked` the way kombu does when a worker takes it; the worker then
    # died without acknowledging: nobody will deliver it before the visibility timeout (1 h).
    key = next(k for k in broker._queue_keys([QUEUE]) if broker_client.llen(k))
    raw = json.loads(broker_client.rpop(key))
    broker_client.hset(broker.UNACKED, "tag-1", json.dumps([raw, "", QUEUE]))
    broker_client.zadd(broker.UNACKED_INDEX, {"tag-1": time.time()})
    age(step, 60)
    assert steps_resend_lost() == 0  # just taken: a live worker is about to claim it
    broker_client.zadd(broker.UNACKED_INDEX, {"tag-1": time.time() - 60})
    assert steps_resend_lost() == 1
    step.refresh_from_db()
    assert messages_in_queue(broker_client) == [step.celery_task_id]
