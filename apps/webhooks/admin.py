from typing import cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.exceptions import ApplicationError
from apps.users.models import User
from apps.webhooks import services
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "url", "active", "consecutive_failures", "last_success_at")
    list_filter = ("active", "organization")
    search_fields = ("name", "url")
    exclude = ("secret",)  # set through the API (shown once) or the rotate action
    readonly_fields = (
        "consecutive_failures",
        "total_failures",
        "total_successes",
        "last_success_at",
        "last_failure_at",
        "disabled_at",
        "disabled_reason",
        "created_by",
    )

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: object, change: bool) -> None:
        if not obj.secret:
            from apps.webhooks.signing import secret_generate

            obj.secret = secret_generate()
            messages.info(request, f"Generated signing secret (shown once): {obj.secret}")
        super().save_model(request, obj, form, change)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "status_code",
        "latency_ms",
        "ok",
        "error",
        "response_excerpt",
        "next_retry_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event_type", "endpoint", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event_type")
    search_fields = ("id", "event_id", "endpoint__name")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay the selected deliveries")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        done = 0
        for delivery in queryset:
            try:
                services.delivery_replay(delivery=delivery, user=cast(User, request.user))  # signed in
                done += 1
            except ApplicationError as exc:
                messages.error(request, f"{delivery.id}: {exc.message}")
        if done:
            messages.success(request, f"Queued {done} replay(s).")
