"""Publishing to a sink's broker. AMQP 0-9-1 with py-amqp (already a Celery dependency): a durable
topic exchange, persistent messages, publisher confirms (basic_publish returns only after the broker
acknowledged the message and raises when it nacks). Kafka: apps/eventsinks/kafka.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import amqp

from apps.eventsinks.errors import PublishError

__all__ = ["PublishError", "connection_for", "publish", "publish_to_sink"]

CONNECT_TIMEOUT = 5.0


def connection_for(url: str) -> amqp.Connection:
    parts = urlsplit(url)
    if parts.scheme != "amqp":
        raise PublishError(f"Unsupported URL scheme {parts.scheme!r}: use amqp://")
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return amqp.Connection(
        host=f"{parts.hostname or 'localhost'}:{parts.port or 5672}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=vhost,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=CONNECT_TIMEOUT,
        write_timeout=CONNECT_TIMEOUT,
        confirm_publish=True,
    )


def publish(
    *, url: str, exchange: str, routing_key: str, body: str, message_id: str, event_type: str
) -> None:
    """Publish one persistent message and wait for the broker's confirm; PublishError otherwise."""
    try:
        with connection_for(url) as connection:
            channel = connection.channel()
            channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            message = amqp.Message(
                body,
                content_type="application/json",
                delivery_mode=2,  # persistent
                message_id=message_id,
                type=event_type,
                app_id="amas",
            )
            channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
    except PublishError:
        raise
    except (OSError, amqp.exceptions.AMQPError) as exc:
        raise PublishError(f"{type(exc).__name__}: {exc}"[:500]) from exc


def publish_to_sink(*, sink: Any, body: str, message_id: str, event_type: str, task_id: str | None) -> None:
    """Publish one event to an EventSink of either kind; PublishError when the broker did not take it."""
    if sink.kind == "kafka":
        from apps.eventsinks import kafka

        kafka.publish(
            url=sink.url,
            topic=sink.exchange,
            body=body,
            message_id=message_id,
            event_type=event_type,
            task_id=task_id,
        )
        return
    publish(
        url=sink.url,
        exchange=sink.exchange,
        routing_key=event_type,
        body=body,
        message_id=message_id,
        event_type=event_type,
    )
