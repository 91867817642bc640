"""The inbound consumer's broker side (AMQP 0-9-1, py-amqp): declares the request queue with its
dead-letter exchange, takes one message at a time (prefetch 1, manual ack), hands it to
inbound.request_handle, publishes the reply (publisher confirms), then acks. The ack comes last, so
a consumer that dies anywhere before it gets the message redelivered, and the InboundRequest row
makes the second pass create nothing new.

Topology (all durable): queue Q (x-dead-letter-exchange Q.dlx), fanout exchange Q.dlx bound to queue
Q.dead, topic exchange AMAS_INBOUND_REPLY_EXCHANGE for replies without reply_to. Messages the broker
itself dead-letters (rejected, expired) land in Q.dead too, with RabbitMQ's x-death header; ours
carry x-amas-reason."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import amqp
from django.conf import settings
from django.db import close_old_connections, connections

from apps.core import metrics
from apps.eventsinks import inbound
from apps.eventsinks.transport import connection_for

log = logging.getLogger(__name__)

RECONNECT_MAX_SECONDS = 30.0
REQUEUE_PAUSE_SECONDS = 1.0  # after a transient failure: not a hot loop against a sick database

REQUESTS = metrics.counter(
    "amas_inbound_requests_total",
    "Inbound task requests by outcome (accepted, rejected, dead, duplicate, requeued).",
    ["outcome"],
)


def alive_mark(path: str) -> None:
    """Touch the liveness file (AMAS_INBOUND_ALIVE_FILE) from the consume and reconnect loops, so a
    probe (`inbound_consume --check`) can tell a running loop from a stuck or dead one."""
    if path:
        try:
            Path(path).touch()
        except OSError:  # a read-only or missing directory must not stop consuming
            log.warning("Cannot touch the inbound liveness file %s", path)


def alive_age(path: str) -> float | None:
    """Seconds since the loop last marked itself alive, None when it never did."""
    try:
        return max(0.0, time.time() - Path(path).stat().st_mtime)
    except OSError:
        return None


def dead_letter_names(queue: str) -> tuple[str, str]:
    return f"{queue}.dlx", f"{queue}.dead"


def declare(channel: Any, *, queue: str, reply_exchange: str) -> None:
    dlx, dead = dead_letter_names(queue)
    channel.exchange_declare(dlx, "fanout", durable=True, auto_delete=False)
    channel.queue_declare(dead, durable=True, auto_delete=False)
    channel.queue_bind(dead, dlx, routing_key="")
    channel.queue_declare(queue, durable=True, auto_delete=False, arguments={"x-dead-letter-exchange": dlx})
    channel.exchange_declare(reply_exchange, "topic", durable=True, auto_delete=False)


class InboundConsumer:
    def __init__(
        self,
        *,
        url: str | None = None,
        queue: str | None = None,
        reply_exchange: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.url = url or settings.AMAS_INBOUND_AMQP_URL
        self.queue = queue or settings.AMAS_INBOUND_QUEUE
        self.reply_exchange = reply_exchange or settings.AMAS_INBOUND_REPLY_EXCHANGE
        self.stop = stop or threading.Event()
        self.handled = 0
        self.alive_file = settings.AMAS_INBOUND_ALIVE_FILE

    def run(self) -> None:
        """Consume until `stop` is set; reconnect with back-off when the broker goes away."""
        backoff = 1.0
        try:
            while not self.stop.is_set():
                alive_mark(self.alive_file)
                try:
                    self._consume()
                    backoff = 1.0
                except (OSError, amqp.exceptions.AMQPError) as exc:
                    log.warning("Inbound consumer lost the broker (%s); reconnecting in %.0fs", exc, backoff)
                    self.stop.wait(backoff)
                    backoff = min(RECONNECT_MAX_SECONDS, backoff * 2)
        finally:
            connections.close_all()  # this thread's database connections

    def _consume(self) -> None:
        pending: list[amqp.Message] = []
        with connection_for(self.url) as connection:
            channel = connection.channel()
            declare(channel, queue=self.queue, reply_exchange=self.reply_exchange)
            channel.basic_qos(prefetch_size=0, prefetch_count=1, a_global=False)
            channel.basic_consume(self.queue, callback=pending.append, no_ack=False)
            log.info("Inbound consumer reading %s", self.queue)
            while not self.stop.is_set():
                alive_mark(self.alive_file)
                try:
                    connection.drain_events(timeout=1.0)
                except TimeoutError:
                    connection.heartbeat_tick()
                    continue
                # Handled outside the callback: publishing waits for confirms on this connection.
                while pending:
                    self._handle(channel, pending.pop(0))

    def _handle(self, channel: Any, message: amqp.Message) -> None:
        props = message.properties
        close_old_connections()  # a long-lived process: drop database connections that went stale
        try:
            outcome = inbound.request_handle(
                body=message.body,
                message_id=str(props.get("message_id") or ""),
                reply_to=str(props.get("reply_to") or ""),
                correlation_id=str(props.get("correlation_id") or ""),
            )
        except Exception:  # the database itself is unreachable: keep the message, try again later
            log.exception("Inbound request could not be recorded; requeued")
            outcome = inbound.Outcome("requeue")
        REQUESTS.inc(outcome=_outcome_label(outcome))
        if outcome.action == "requeue":
            channel.basic_reject(message.delivery_tag, requeue=True)
            self.stop.wait(REQUEUE_PAUSE_SECONDS)
            return
        if outcome.reply is not None:
            self._reply(channel, props, outcome.reply)
            inbound.reply_sent(record_id=outcome.record_id)
        if outcome.action == "dead":
            self._dead_letter(channel, message, outcome.reason)
        channel.basic_ack(message.delivery_tag)
        self.handled += 1

    def _reply(self, channel: Any, request_props: dict[str, Any], reply: dict[str, Any]) -> None:
        reply_publish(
            channel,
            reply=reply,
            reply_to=str(request_props.get("reply_to") or ""),
            correlation_id=str(request_props.get("correlation_id") or reply.get("message_id") or ""),
        )

    def _dead_letter(self, channel: Any, message: amqp.Message, reason: str) -> None:
        """The original bytes and properties, plus why, on the dead-letter exchange (confirmed
        before the original is acked)."""
        dlx, _ = dead_letter_names(self.queue)
        props = dict(message.properties)
        headers = dict(props.pop("application_headers", None) or {})
        headers.update({"x-amas-reason": reason[:1000], "x-amas-queue": self.queue})
        props.pop("delivery_mode", None)
        channel.basic_publish(
            amqp.Message(message.body, application_headers=headers, delivery_mode=2, **props),
            exchange=dlx,
            routing_key=self.queue,
        )


def _outcome_label(outcome: inbound.Outcome) -> str:
    if outcome.action in ("requeue", "dead"):
        return {"requeue": "requeued", "dead": "dead"}[outcome.action]
    if outcome.extra.get("duplicate"):
        return "duplicate"
    return str((outcome.reply or {}).get("status", "rejected"))


def reply_publish(channel: Any, *, reply: dict[str, Any], reply_to: str, correlation_id: str) -> None:
    exchange, routing_key = inbound.reply_destination(reply_to=reply_to, status=reply["status"])
    channel.basic_publish(
        amqp.Message(
            json.dumps(reply, separators=(",", ":"), sort_keys=True, default=str),
            content_type="application/json",
            delivery_mode=2,
            correlation_id=correlation_id,
            message_id=f"{reply.get('message_id', '')}:{reply['status']}",
            type=f"task.{reply['status']}",
            app_id="amas",
            timestamp=int(time.time()),
        ),
        exchange=exchange,
        routing_key=routing_key,
    )


def status_reply_publish(*, record_id: int, event_type: str) -> None:
    """Publish a task's terminal status to the requester (Celery task inbound.status_reply)."""
    from apps.eventsinks.models import InboundRequest

    reply = inbound.status_reply(record_id=record_id, event_type=event_type)
    if reply is None:
        return
    record = InboundRequest.objects.get(pk=record_id)
    with connection_for(settings.AMAS_INBOUND_AMQP_URL) as connection:
        reply_publish(
            connection.channel(),
            reply=reply,
            reply_to=record.reply_to,
            correlation_id=record.correlation_id or record.message_id,
        )
