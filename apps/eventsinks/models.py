"""Event sinks: message brokers an organisation's admins register next to webhooks, and the
delivery of task and step events to them (AMQP 0-9-1 / RabbitMQ, Kafka); and the record of task
requests read from the inbound queue (de-duplication by message id)."""

import re
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.core.crypto import EncryptedTextField
from apps.core.models import TimeStampedModel
from apps.core.vocabulary import Classification

EVENT_PATTERN = re.compile(r"^(\*|(task|step)\.(\*|[a-z_]+))$")


class SinkKind(models.TextChoices):
    AMQP = "amqp", "AMQP 0-9-1 (RabbitMQ)"
    KAFKA = "kafka", "Kafka"


URL_SCHEMES: dict[str, tuple[str, ...]] = {SinkKind.AMQP: ("amqp",), SinkKind.KAFKA: ("kafka", "kafkas")}


class EventSink(TimeStampedModel):
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="event_sinks"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=SinkKind.choices, default=SinkKind.AMQP)
    url = EncryptedTextField(
        help_text="amqp://user:password@host:5672/vhost or kafka://[user:password@]host:9092[,host2:9092] "
        "(kafkas:// for TLS) - encrypted at rest, never shown again."
    )
    exchange = models.CharField(
        max_length=200,
        default="amas.events",
        help_text="AMQP: a durable topic exchange (routing key = event type). Kafka: the topic.",
    )
    event_types = models.JSONField(
        default=list, help_text='Event names ("task.completed"), or patterns "task.*", "step.*", "*".'
    )
    max_classification = models.CharField(
        max_length=8,
        choices=Classification.choices,
        default=Classification.AMBER,
        help_text="Events of tasks classified above this level are not published to this sink.",
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    total_failures = models.PositiveIntegerField(default=0)
    total_successes = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="event_sink_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        errors = {}
        parts = urlsplit(self.url or "")
        schemes = URL_SCHEMES.get(self.kind, ())
        if parts.scheme not in schemes or not parts.netloc.rpartition("@")[2]:
            errors["url"] = (
                "Use a kafka://host:9092 (or kafkas://) URL."
                if self.kind == SinkKind.KAFKA
                else "Use an amqp://user:password@host:port/vhost URL."
            )
        bad = [t for t in self.event_types or [] if not isinstance(t, str) or not EVENT_PATTERN.match(t)]
        if not self.event_types or bad:
            errors["event_types"] = (
                f"Unknown event types or patterns: {', '.join(map(str, bad))}."
                if bad
                else "Choose at least one."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def healthy(self) -> bool | None:
        """None until the first attempt; False while the last attempt failed."""
        if self.last_success_at is None and self.last_failure_at is None:
            return None
        return self.consecutive_failures == 0


class SinkDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"  # the broker confirmed the message (publisher confirm)
    FAILED = "failed", "Failed"  # out of attempts


class SinkDelivery(models.Model):
    """One event for one sink. `event_id` (<task id>:<seq>) is the AMQP message_id, the same on
    every retry: delivery is at least once, consumers deduplicate on it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sink = models.ForeignKey(EventSink, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=32)
    task_id = models.UUIDField(null=True, blank=True)
    body = models.TextField(help_text="The JSON message body, as published.")
    status = models.CharField(
        max_length=16, choices=SinkDeliveryStatus.choices, default=SinkDeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["sink", "-created_at"], name="sink_delivery_sink"),
            models.Index(fields=["next_attempt_at"], name="sink_delivery_due", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.sink_id} ({self.status})"


class InboundStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"  # read at least once, no outcome yet
    ACCEPTED = "accepted", "Accepted"  # a task was created
    REJECTED = "rejected", "Rejected"  # invalid or not allowed; the reason was replied
    DEAD = "dead", "Dead-lettered"  # failed too often; moved to the dead-letter queue


class InboundRequest(models.Model):
    """A task request read from the inbound queue, keyed by its AMQP message_id: a redelivered
    message finds its row and creates no second task. `attempts` is counted (and committed)
    before each processing, so a consumer killed mid-message counts too."""

    message_id = models.CharField(max_length=200, unique=True)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=InboundStatus.choices, default=InboundStatus.PROCESSING)
    attempts = models.PositiveSmallIntegerField(default=0)
    task = models.ForeignKey("tasks.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reply_to = models.CharField(max_length=255, blank=True)
    correlation_id = models.CharField(max_length=255, blank=True)
    reply = models.JSONField(default=dict, blank=True, help_text="The outcome as replied.")
    replied_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"
