"""The sequence that crashed the worker after a Redis restart, replayed against the test Redis:
a message delivered and not yet acknowledged (acks_late: its step is still running), then the
connection collected (kombu clears transport.client) and closed (the channel restores its unacked
messages). Stock kombu 5.7 raises AttributeError out of Connection.close(), which Celery's consumer
does not survive; amas.broker_transport restores the message to its queue, or, with Redis down,
fails with a connection error that kombu ignores."""

import uuid

import pytest
import redis
from django.conf import settings
from kombu import Connection, Consumer, Exchange, Producer, Queue

from amas.broker_transport import Transport
from tests.resilience.outages import redis_stopped

STOCK = "kombu.transport.redis:Transport"
OURS = "amas.broker_transport:Transport"


def deliver_one(transport: str) -> tuple[Connection, str]:
    """A connection holding one delivered, unacknowledged message; returns it and its queue."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), name)
    conn = Connection(settings.CELERY_BROKER_URL, transport=transport)
    Producer(conn.default_channel).publish(
        {"step": 1}, exchange=queue.exchange, routing_key=name, declare=[queue]
    )
    delivered = []
    Consumer(
        conn.default_channel, [queue], callbacks=[lambda body, message: delivered.append(message)]
    ).consume()
    conn.drain_events(timeout=5)
    assert len(delivered) == 1
    return conn, name


def test_the_celery_app_uses_our_transport_for_redis():
    from amas.celery import app

    with app.connection_for_read() as conn:
        assert isinstance(conn.transport, Transport)


def test_stock_kombu_fails_to_close_a_collected_connection():
    """The bug itself (if kombu fixes it, this fails and amas.broker_transport can go)."""
    conn, _ = deliver_one(STOCK)
    conn._do_close_transport()  # what Connection.collect() ends with
    with pytest.raises(AttributeError, match="hostname"):
        conn.close()


def test_our_transport_restores_the_unacked_message_on_close():
    conn, name = deliver_one(OURS)
    conn._do_close_transport()
    conn.close()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert client.llen(name) == 1  # back in its queue for the next consumer
    client.delete(name)


def test_with_redis_down_closing_fails_only_with_a_connection_error_that_kombu_ignores():
    conn, _ = deliver_one(OURS)
    with redis_stopped():
        conn._do_close_transport()
        conn.close()  # no AttributeError; the message stays in Redis's unacked set for the reaper


def test_publishes_share_one_client_and_follow_a_replaced_pool():
    """The channel's synchronous commands reuse one redis-py client (kombu built one per
    command); when kombu replaces the channel's connection pool (after a fork, on close) the
    next publish gets a client of the new pool, and every message arrives."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), name)
    with Connection(settings.CELERY_BROKER_URL, transport=OURS) as conn:
        channel = conn.default_channel
        producer = Producer(channel)
        producer.publish({"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue])
        first = channel._sync_client
        producer.publish({"n": 2}, exchange=queue.exchange, routing_key=name, declare=[queue])
        assert first is not None and channel._sync_client is first
        old_pool = channel.pool
        channel._after_fork()  # what kombu runs in a forked child: the pools are dropped
        producer.publish({"n": 3}, exchange=queue.exchange, routing_key=name, declare=[queue])
        assert channel._sync_client is not first
        assert channel._sync_client.connection_pool is channel.pool is not old_pool
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        assert client.llen(name) == 3
    finally:
        client.delete(name)
