"""Investigations (cases): a titled, classified piece of work of one organisation that groups
tasks, with assignees, tags, comments, imported observables and a timeline of analysts' actions
(its tasks' own events come from the task event store and are merged in by the selectors)."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from apps.core.vocabulary import Classification

COMMENT_MAX_CHARS = 10_000
TAG_MAX_CHARS = 64
MAX_TAGS = 32


class InvestigationStatus(models.TextChoices):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class Investigation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("users.Organization", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=InvestigationStatus.choices, default=InvestigationStatus.OPEN
    )
    # Never below the strictest of its tasks (services raise it when a stricter task joins and
    # refuse to lower it below one): what a case shows is at least as sensitive as its parts.
    classification = models.CharField(
        max_length=8, choices=Classification.choices, default=Classification.AMBER
    )
    tags = ArrayField(models.CharField(max_length=TAG_MAX_CHARS), default=list, blank=True)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="inv_org_created"),
            models.Index(fields=["organization", "status"], name="inv_org_status"),
            GinIndex(fields=["tags"], name="inv_tags"),
        ]

    def __str__(self) -> str:
        return self.title


class InvestigationTask(models.Model):
    """A task's membership of an investigation (a task belongs to at most one). A follow-up
    launched from an entity of another task's result keeps that task and entity as its origin."""

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="memberships")
    task = models.OneToOneField(
        "tasks.Task", on_delete=models.CASCADE, related_name="investigation_membership"
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    origin_task = models.ForeignKey(
        "tasks.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_ups"
    )
    origin_entity_kind = models.CharField(max_length=32, blank=True)
    origin_entity_value = models.CharField(max_length=1024, blank=True)

    class Meta:
        indexes = [models.Index(fields=["investigation", "added_at"], name="inv_task_added")]

    def __str__(self) -> str:
        return f"{self.task_id} in {self.investigation_id}"


class TaskTags(models.Model):
    """Tags of a task (tasks have no tag column of their own: the case layer owns tagging)."""

    task = models.OneToOneField("tasks.Task", on_delete=models.CASCADE, related_name="case_tags")
    tags = ArrayField(models.CharField(max_length=TAG_MAX_CHARS), default=list, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["tags"], name="task_tags")]

    def __str__(self) -> str:
        return ", ".join(self.tags)


class Comment(models.Model):
    """A comment on an investigation or on a task (exactly one of the two)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("users.Organization", on_delete=models.PROTECT, related_name="+")
    investigation = models.ForeignKey(
        Investigation, on_delete=models.CASCADE, null=True, blank=True, related_name="comments"
    )
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(investigation__isnull=False, task__isnull=True)
                | models.Q(investigation__isnull=True, task__isnull=False),
                name="comment_on_one_thing",
            )
        ]
        indexes = [
            models.Index(fields=["investigation", "created_at"], name="comment_inv_created"),
            models.Index(fields=["task", "created_at"], name="comment_task_created"),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class TimelineEntry(models.Model):
    """An analyst's action on an investigation (created, updated, task added, comment, import)."""

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="timeline")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["investigation", "created_at"], name="timeline_inv_created")]

    def __str__(self) -> str:
        return self.kind


class Provenance(models.TextChoices):
    IMPORTED = "imported"


class InvestigationEntity(models.Model):
    """An observable an investigation holds besides what its tasks found: imported from a STIX
    bundle (provenance "imported"), with the STIX id it came from."""

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="entities")
    kind = models.CharField(max_length=32)
    value = models.CharField(max_length=1024)
    normalized = models.CharField(max_length=1024)
    attributes = models.JSONField(default=dict, blank=True)
    provenance = models.CharField(max_length=16, choices=Provenance.choices, default=Provenance.IMPORTED)
    source_ref = models.CharField(max_length=128, blank=True, help_text="The STIX id it was imported from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["investigation", "kind", "normalized"], name="inv_entity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Playbook(models.Model):
    """A named, versioned set of agents with their parameters, managed by an organisation's
    admins, and an optional condition (task types, target kinds) on where it may run. Every
    change bumps `version` and keeps the previous definition in PlaybookVersion."""

    organization = models.ForeignKey("users.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    agents = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    task_type = models.CharField(max_length=32, help_text="The type of the tasks it submits.")
    condition_task_types = models.JSONField(default=list, blank=True, help_text="Empty: any.")
    condition_target_kinds = models.JSONField(default=list, blank=True, help_text="Empty: any.")
    version = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="playbook_org_name")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class PlaybookVersion(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["playbook", "version"], name="playbook_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.playbook_id} v{self.version}"
