import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel
from apps.core.vocabulary import Classification, task_types


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


TERMINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT}
)


class Task(TimeStampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own (db_index=False) where a composite index below starts with the column: every
    # index is written on each insert and each non-HOT update of a task (issue 19, PG round 6).
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks", null=True
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # No `choices`: task types come from a registry that agents extend (apps.core.vocabulary), so
    # an agent bringing a new type needs no migration. Services and schemas validate against it.
    task_type = models.CharField(max_length=32)
    target = models.CharField(max_length=2048, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    requested_agents = models.JSONField(default=list, blank=True)
    priority = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    classification = models.CharField(
        max_length=8, choices=Classification.choices, default=Classification.AMBER
    )
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    plan = models.JSONField(default=dict, blank=True, help_text="Agents, groups and the reasons for them.")
    summary = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)
    last_event_seq = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="runs", db_index=False
    )
    schedule = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="amas_task",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="task_org_created"),
            models.Index(fields=["organization", "status", "-created_at"], name="task_org_status"),
            models.Index(fields=["organization", "task_type", "-created_at"], name="task_org_type"),
            models.Index(fields=["organization", "priority"], name="task_org_priority"),
            models.Index(fields=["parent", "-created_at"], name="task_parent_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=10), name="task_priority_1_10"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="task_progress_max_100"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def get_task_type_display(self) -> str:
        """The label of the task type (what Django generates for a field with choices)."""
        return task_types.label(self.task_type)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class StepStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"


STEP_TERMINAL_STATUSES = frozenset(
    {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.TIMED_OUT, StepStatus.SKIPPED}
)


class TaskStep(models.Model):
    """One agent's run within a task. Steps of the same group run in parallel; the aggregate step
    (is_aggregate) runs after every group ended and writes the task summary."""

    # No index of its own: step_unique_slot starts with task_id (see Task.organization).
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps", db_index=False)
    agent_type = models.CharField(max_length=64)
    agent_config_id = models.BigIntegerField(null=True, blank=True)
    agent_config = models.JSONField(default=dict, blank=True)
    group_index = models.PositiveSmallIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)
    is_aggregate = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    timeout_seconds = models.PositiveIntegerField(default=300)
    queue = models.CharField(max_length=64, default="agents")
    celery_task_id = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["group_index", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "group_index", "position"], name="step_unique_slot"),
        ]
        indexes = [
            models.Index(
                fields=["lease_expires_at"],
                name="step_running_lease",
                condition=Q(status="running"),
            ),
            models.Index(fields=["agent_type", "status"], name="step_agent_status"),
            models.Index(fields=["queued_at"], name="step_queued_since", condition=Q(status="queued")),
        ]

    def __str__(self) -> str:
        return f"{self.agent_type} #{self.position} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in STEP_TERMINAL_STATUSES


class Result(models.Model):
    """What one step produced. One per step (re-delivered steps update, never duplicate)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: result_task_created starts with task_id (see Task.organization).
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="results", db_index=False)
    step = models.OneToOneField(TaskStep, on_delete=models.CASCADE, related_name="result")
    agent = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    data = models.JSONField(default=dict)
    summary = models.TextField(blank=True)
    processing_time_ms = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["task", "created_at"], name="result_task_created")]

    def __str__(self) -> str:
        return f"{self.agent} {self.status}"


class TaskEvent(models.Model):
    """The event store: every change of a task appends one row in the same transaction."""

    # No index of its own: event_unique_seq starts with task_id (see Task.organization).
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="event_unique_seq")]
        indexes = [models.Index(fields=["created_at"], name="event_created")]

    def __str__(self) -> str:
        return f"{self.task_id}#{self.seq} {self.type}"


class TaskStatsHourly(models.Model):
    """Read model refreshed by beat: counts and mean duration per hour, task type and status."""

    organization = models.ForeignKey("users.Organization", on_delete=models.CASCADE)
    hour = models.DateTimeField()
    task_type = models.CharField(max_length=32)
    status = models.CharField(max_length=16)
    count = models.PositiveIntegerField(default=0)
    mean_duration_ms = models.FloatField(null=True)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "hour", "task_type", "status"], name="stats_unique_bucket"
            )
        ]
        indexes = [models.Index(fields=["organization", "-hour"], name="stats_org_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.task_type} {self.status}: {self.count}"
