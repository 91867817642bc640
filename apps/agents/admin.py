import json
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.agents.models import AgentConfig, AuthorisedTarget, DecisionSettings, EgressAllowlistEntry
from apps.agents.registry import agent_registry
from apps.agents.services import agent_config_health_check
from apps.users.models import User


class AgentConfigForm(forms.ModelForm):
    """Agent type from the registry; secrets are write-only: the form shows which keys are stored
    and replaces them only when new JSON is entered."""

    agent_type = forms.ChoiceField(choices=())
    new_secrets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Secrets",
        help_text='JSON object, e.g. {"api_key": "..."}. Leave blank to keep the stored secrets; '
        "enter {} to remove them.",
    )

    class Meta:
        model = AgentConfig
        fields = (
            "name",
            "agent_type",
            "description",
            "enabled",
            "parameters",
            "capabilities",
            "concurrency_limit",
            "timeout_seconds",
            "max_attempts",
            "queue",
            "max_classification",
            "provider_strategy",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        types = agent_registry.types()
        current = self.instance.agent_type if self.instance and self.instance.pk else None
        if current and current not in types:
            types = [*types, current]
        cast(forms.ChoiceField, self.fields["agent_type"]).choices = [(t, t) for t in types]
        if self.instance and self.instance.pk and self.instance.secrets:
            stored = ", ".join(sorted(self.instance.secrets))
            self.fields["new_secrets"].help_text = (
                f"Stored keys: {stored}. " + self.fields["new_secrets"].help_text
            )

    def clean_new_secrets(self) -> dict | None:
        raw = self.cleaned_data.get("new_secrets", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("A JSON object is expected.")
        return value

    def save(self, commit: bool = True) -> AgentConfig:
        new_secrets = self.cleaned_data.get("new_secrets")
        if new_secrets is not None:
            self.instance.secrets = new_secrets
        return super().save(commit=commit)


@admin.register(AgentConfig)
class AgentConfigAdmin(admin.ModelAdmin):
    form = AgentConfigForm
    list_display = (
        "name",
        "agent_type",
        "enabled",
        "concurrency_limit",
        "timeout_seconds",
        "queue",
        "max_classification",
        "last_health_ok",
        "last_health_message",
    )
    list_filter = ("agent_type", "enabled", "max_classification")
    search_fields = ("name", "agent_type", "description")
    readonly_fields = ("last_health_ok", "last_health_message", "last_health_at", "parameter_schema")
    actions = ["run_health_check"]
    fieldsets = (
        (None, {"fields": ("name", "agent_type", "description", "enabled")}),
        ("Configuration", {"fields": ("parameters", "parameter_schema", "new_secrets", "capabilities")}),
        (
            "Limits and routing",
            {
                "fields": (
                    "concurrency_limit",
                    "timeout_seconds",
                    "max_attempts",
                    "queue",
                    "max_classification",
                    "provider_strategy",
                )
            },
        ),
        ("Health", {"fields": ("last_health_ok", "last_health_message", "last_health_at")}),
    )

    @admin.display(description="Parameter schema")
    def parameter_schema(self, obj: AgentConfig) -> str:
        agent = obj.agent_class if obj and obj.pk else None
        return json.dumps(agent.parameter_schema(), indent=2) if agent else "-"

    @admin.action(description="Run health check")
    def run_health_check(self, request: HttpRequest, queryset: QuerySet[AgentConfig]) -> None:
        for config in queryset:
            ok, message = agent_config_health_check(config=config)
            self.message_user(
                request,
                f"{config.name}: {'healthy' if ok else 'unhealthy'} ({message})",
                level=messages.SUCCESS if ok else messages.ERROR,
            )


@admin.register(DecisionSettings)
class DecisionSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "performance_weight",
        "cost_weight",
        "reliability_weight",
        "explore",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DecisionSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


@admin.register(EgressAllowlistEntry)
class EgressAllowlistEntryAdmin(admin.ModelAdmin):
    list_display = ("value", "enabled", "note", "created_at")
    list_filter = ("enabled",)
    search_fields = ("value", "note")


@admin.register(AuthorisedTarget)
class AuthorisedTargetAdmin(admin.ModelAdmin):
    list_display = ("value", "enabled", "note", "added_by", "created_at")
    list_filter = ("enabled",)
    search_fields = ("value", "note")
    readonly_fields = ("added_by",)

    def save_model(self, request: HttpRequest, obj: AuthorisedTarget, form: Any, change: bool) -> None:
        if not change:
            obj.added_by = cast(User, request.user)  # the admin is signed in
        super().save_model(request, obj, form, change)


# Admin of the forensics agent's YARA rules and hash sets (issue 6).
from apps.agents import forensics_admin  # noqa: E402, F401
