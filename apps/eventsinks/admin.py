from django.contrib import admin
from django.http import HttpRequest

from apps.eventsinks.models import EventSink, InboundRequest, SinkDelivery


@admin.register(EventSink)
class EventSinkAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "kind", "exchange", "active", "healthy", "consecutive_failures")
    list_filter = ("kind", "active")
    readonly_fields = (
        "consecutive_failures",
        "total_failures",
        "total_successes",
        "last_success_at",
        "last_failure_at",
        "last_error",
    )

    @admin.display(boolean=True, description="healthy")
    def healthy(self, obj: EventSink) -> bool | None:
        return obj.healthy


@admin.register(SinkDelivery)
class SinkDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "sink", "event_type", "event_id", "status", "attempts", "last_error")
    list_filter = ("status", "event_type")
    readonly_fields = [f.name for f in SinkDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:  # deliveries come from events only
        return False


@admin.register(InboundRequest)
class InboundRequestAdmin(admin.ModelAdmin):
    list_display = ("created_at", "message_id", "organization", "status", "attempts", "task", "last_error")
    list_filter = ("status",)
    search_fields = ("message_id", "correlation_id")
    readonly_fields = [f.name for f in InboundRequest._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:  # requests come from the queue only
        return False
