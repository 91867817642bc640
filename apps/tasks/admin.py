from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.exceptions import ApplicationError
from apps.tasks import services
from apps.tasks.models import Result, Task, TaskEvent, TaskStep


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StepInline(ReadOnlyInline):
    model = TaskStep
    fields = (
        "agent_type",
        "group_index",
        "status",
        "attempt",
        "progress",
        "started_at",
        "finished_at",
        "error_message",
    )


class ResultInline(ReadOnlyInline):
    model = Result
    fields = (
        "agent",
        "status",
        "summary",
        "processing_time_ms",
        "tokens_in",
        "tokens_out",
        "cost",
        "error_message",
    )


class EventInline(ReadOnlyInline):
    model = TaskEvent
    fields = ("seq", "type", "payload", "created_at")
    readonly_fields = fields
    ordering = ("seq",)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "task_type",
        "status",
        "priority",
        "classification",
        "organization",
        "created_at",
    )
    list_filter = ("status", "task_type", "classification", "organization")
    search_fields = ("title", "target", "description")
    list_select_related = ("organization",)
    readonly_fields = [f.name for f in Task._meta.fields]
    inlines = [StepInline, ResultInline, EventInline]
    actions = ["cancel_tasks", "retry_tasks"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are created through the API/UI services, which plan and queue them

    def _apply(self, request: HttpRequest, queryset: QuerySet[Task], action: str) -> None:
        done = 0
        for task in queryset:
            try:
                getattr(services, f"task_{action}")(task=task, by=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{task}: {exc.message}", level=messages.WARNING)
        self.message_user(request, f"{action.title()}: {done} task(s).")

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._apply(request, queryset, "cancel")

    @admin.action(description="Retry selected tasks")
    def retry_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._apply(request, queryset, "retry")
