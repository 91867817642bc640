"""Publishing to Kafka with the official client (confluent-kafka, librdkafka): an idempotent
producer with acks=all, key = task id (a task's events land in one partition, in order), the stable
event id in a header for consumers to de-duplicate on. One producer per sink URL and process:
librdkafka producers are thread-safe, and keeping one keeps its idempotence sequence."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

from apps.eventsinks.errors import PublishError

_producers: dict[str, Any] = {}
_lock = threading.Lock()


def producer_config(url: str) -> dict[str, Any]:
    """librdkafka settings for kafka://[user:password@]host:9092[,host2:9092][?mechanism=SCRAM-SHA-512]
    (kafkas:// for TLS). Credentials mean SASL (PLAIN unless `mechanism` says otherwise)."""
    parts = urlsplit(url)
    if parts.scheme not in ("kafka", "kafkas"):
        raise PublishError(f"Unsupported URL scheme {parts.scheme!r}: use kafka:// or kafkas://")
    credentials, _, hosts = parts.netloc.rpartition("@")
    if not hosts:
        raise PublishError("The Kafka URL names no bootstrap server.")
    config: dict[str, Any] = {
        "bootstrap.servers": hosts,
        "client.id": "amas",
        "enable.idempotence": True,  # no duplicates or reordering from the producer's own retries
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": 5,
        "delivery.timeout.ms": settings.AMAS_KAFKA_DELIVERY_TIMEOUT_MS,
        "socket.connection.setup.timeout.ms": min(10000, settings.AMAS_KAFKA_DELIVERY_TIMEOUT_MS),
    }
    tls = parts.scheme == "kafkas"
    if credentials:
        user, _, password = credentials.partition(":")
        mechanism = parse_qs(parts.query).get("mechanism", ["PLAIN"])[0]
        config.update(
            {
                "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
                "sasl.mechanism": mechanism,
                "sasl.username": unquote(user),
                "sasl.password": unquote(password),
            }
        )
    else:
        config["security.protocol"] = "SSL" if tls else "PLAINTEXT"
    return config


def record_for(*, body: str, message_id: str, event_type: str, task_id: str | None) -> dict[str, Any]:
    """The produce() arguments of one event: bytes, key = task id, ids in headers."""
    return {
        "value": body.encode(),
        "key": task_id.encode() if task_id else None,
        "headers": [
            ("message_id", message_id.encode()),
            ("type", event_type.encode()),
            ("content-type", b"application/json"),
        ],
    }


def producer_for(url: str) -> Any:
    from confluent_kafka import KafkaException, Producer

    with _lock:
        producer = _producers.get(url)
        if producer is None:
            try:
                producer = Producer(producer_config(url))
            except KafkaException as exc:
                raise PublishError(f"Kafka configuration refused: {exc}") from exc
            _producers[url] = producer
        return producer


def publish(
    *, url: str, topic: str, body: str, message_id: str, event_type: str, task_id: str | None
) -> None:
    """Produce one record and wait for the brokers' acknowledgement (acks=all); PublishError
    otherwise (broker down, topic refused, delivery timeout)."""
    from confluent_kafka import KafkaException

    producer = producer_for(url)
    outcome: dict[str, Any] = {}

    def delivered(err: Any, msg: Any) -> None:
        outcome["error"] = err

    try:
        producer.produce(
            topic,
            on_delivery=delivered,
            **record_for(body=body, message_id=message_id, event_type=event_type, task_id=task_id),
        )
    except (KafkaException, BufferError) as exc:
        raise PublishError(f"{type(exc).__name__}: {exc}"[:500]) from exc
    # Waits at most the delivery timeout: librdkafka then fails the record (and calls back).
    producer.flush(settings.AMAS_KAFKA_DELIVERY_TIMEOUT_MS / 1000 + 5)
    if "error" not in outcome:
        raise PublishError("Kafka did not acknowledge the record in time.")
    if outcome["error"] is not None:
        raise PublishError(f"Kafka: {outcome['error'].str()}"[:500])
