import uuid

from django.conf import settings
from django.db import models


def artefact_storage_key(instance: "Artefact", filename: str) -> str:
    # Never trust the uploaded name for paths: the key is ours, the name is only metadata.
    return f"artefacts/{instance.organization_id}/{instance.task_id}/{instance.id.hex}"


class Artefact(models.Model):
    """A file attached to a task by a user, or written by an agent (reports, charts, models)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("users.Organization", on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="artefacts")
    step = models.ForeignKey(
        "tasks.TaskStep", on_delete=models.SET_NULL, null=True, blank=True, related_name="artefacts"
    )
    file = models.FileField(upload_to=artefact_storage_key, max_length=500)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    detected_type = models.CharField(max_length=100, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    produced_by_agent = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["task", "created_at"], name="artefact_task_created")]

    def __str__(self) -> str:
        return self.original_name
