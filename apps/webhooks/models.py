"""Webhooks: endpoints an organisation's admins register, and the deliveries of task and step
events to them, with every attempt logged."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.crypto import EncryptedTextField
from apps.core.models import TimeStampedModel
from apps.core.vocabulary import Classification


class WebhookEndpoint(TimeStampedModel):
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2048)
    event_types = models.JSONField(
        default=list, help_text='Event names ("task.completed"), or patterns "task.*", "step.*", "*".'
    )
    secret = EncryptedTextField(help_text="Signs every delivery (HMAC-SHA256). Encrypted at rest.")
    max_classification = models.CharField(
        max_length=8,
        choices=Classification.choices,
        default=Classification.AMBER,
        help_text="Events of tasks classified above this level are not sent to this endpoint.",
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
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="webhook_endpoint_unique_name")
        ]
        indexes = [models.Index(fields=["organization", "active"], name="webhook_endpoint_org_active")]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its (next) attempt
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # gave up: out of attempts, 410 Gone, or refused by egress policy
    CANCELLED = "cancelled", "Cancelled"  # the endpoint was disabled or deleted meanwhile


class WebhookDelivery(models.Model):
    """One event for one endpoint. Its id is the X-AMAS-Delivery header, the same on every retry
    (receivers deduplicate on it); a replay is a new delivery pointing at the one it repeats."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    task_event = models.ForeignKey(
        "tasks.TaskEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries"
    )
    event_id = models.CharField(max_length=64, help_text="<task id>:<seq>, stable across replays.")
    event_type = models.CharField(max_length=32)
    task_id = models.UUIDField(null=True, blank=True)
    body = models.TextField(help_text="The JSON body, byte for byte as signed and sent.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due", condition=Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what came back, how long it took, when the next one is."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField(default=False)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_unique_number")
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.status_code or self.error[:40]}"
