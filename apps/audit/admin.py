from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by services and never edited."""

    list_display = (
        "seq",
        "created_at",
        "event_type",
        "entity_type",
        "entity_id",
        "actor_label",
        "ip",
        "trust_score",
    )
    list_filter = ("event_type", "entity_type")
    search_fields = ("actor_label", "entity_id", "request_id", "ip")
    ordering = ("-seq",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
