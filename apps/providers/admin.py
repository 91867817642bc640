from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.vocabulary import Classification
from apps.providers import breaker
from apps.providers.adapters import kind_choices
from apps.providers.models import Budget, Provider, ProviderCall
from apps.providers.services import (
    provider_breaker_reset,
    provider_health_check,
    provider_set_api_key,
    provider_set_enabled,
)


class ProviderForm(forms.ModelForm):
    """The API key is write-only: the form never renders the stored value back. The form does not
    write it either: ProviderAdmin.save_model hands a new (or cleared) key to the service."""

    kind = forms.ChoiceField(choices=kind_choices, help_text="The API style (a registered adapter).")
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")
    allowed_classifications = forms.MultipleChoiceField(
        choices=Classification.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What this provider may receive. External vendors: CLEAR and GREEN only, unless you "
        "have an agreement that covers more.",
    )

    class Meta:
        model = Provider
        fields = (
            "name",
            "kind",
            "enabled",
            "auto_enable",
            "priority",
            "tags",
            "base_url",
            "model",
            "embedding_model",
            "allowed_classifications",
            "timeout",
            "max_retries",
            "rpm_limit",
            "tpm_limit",
            "cost_per_1k_input",
            "cost_per_1k_output",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["api_key"] = ""
        self.fields["api_key"].label = "API key" + (" (a key is stored)" if self.instance.has_key else "")

    def clean_allowed_classifications(self) -> list[str]:
        chosen = set(self.cleaned_data.get("allowed_classifications") or [])
        return [c for c in Classification.values if c in chosen]

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        # The write-only field shares the model field's name, so Django copied the posted (usually
        # blank) value onto the instance: put the stored key back. A new key goes through the
        # service (ProviderAdmin.save_model), never through this form.
        stored = Provider.objects.filter(pk=provider.pk).values_list("api_key", flat=True).first()
        provider.api_key = stored or ""
        if commit:
            provider.save()
        return provider

    def key_change(self) -> str | None:
        """The key to store: a new one, "" to clear it, or None to keep what is stored."""
        if self.cleaned_data.get("clear_api_key"):
            return ""
        return self.cleaned_data.get("api_key") or None


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = (
        "name",
        "kind",
        "model",
        "model_listed",
        "enabled",
        "priority",
        "key_stored",
        "classifications",
        "circuit",
        "last_health_ok",
        "last_health_at",
        "short_error",
    )
    list_filter = ("enabled", "kind")
    search_fields = ("name", "model", "base_url")
    ordering = ("priority", "name")
    readonly_fields = (
        "circuit",
        "circuit_last_error",
        "last_health_at",
        "last_health_ok",
        "last_health_latency_ms",
        "last_error",
        "last_error_at",
        "model_listed",
        "models_listed_at",
        "listed_model_names",
        "preset_checked_on",
    )
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled", "auto_enable", "priority", "tags")}),
        ("Endpoint", {"fields": ("base_url", "model", "embedding_model", "api_key", "clear_api_key")}),
        ("Policy", {"fields": ("allowed_classifications",)}),
        (
            "Limits and costs",
            {
                "fields": (
                    "timeout",
                    "max_retries",
                    "rpm_limit",
                    "tpm_limit",
                    "cost_per_1k_input",
                    "cost_per_1k_output",
                )
            },
        ),
        (
            "Health",
            {
                "fields": (
                    "circuit",
                    "circuit_last_error",
                    "last_health_at",
                    "last_health_ok",
                    "last_health_latency_ms",
                    "last_error",
                    "last_error_at",
                )
            },
        ),
        (
            "Model catalogue",
            {"fields": ("model_listed", "models_listed_at", "listed_model_names", "preset_checked_on")},
        ),
    )
    actions = ("run_health_check", "refresh_model_list", "reset_circuit", "enable", "disable")

    def save_model(self, request: HttpRequest, obj: Provider, form: ProviderForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        key = form.key_change()
        if key is not None:
            provider_set_api_key(provider=obj, api_key=key)

    @admin.display(boolean=True, description="key")
    def key_stored(self, obj: Provider) -> bool:
        return obj.has_key

    @admin.display(description="may receive")
    def classifications(self, obj: Provider) -> str:
        return ", ".join(c.upper() for c in obj.allowed_classifications or [])

    @admin.display(description="circuit")
    def circuit(self, obj: Provider) -> str:
        if not obj.pk:
            return "-"
        state = breaker.state(obj.pk)
        extra = f" ({state.cooldown_remaining:.0f}s left)" if state.state == breaker.OPEN else ""
        return f"{state.state}{extra}, {state.failures} consecutive failures"

    @admin.display(description="circuit's last error")
    def circuit_last_error(self, obj: Provider) -> str:
        return breaker.state(obj.pk).last_error if obj.pk else ""

    @admin.display(description="last error")
    def short_error(self, obj: Provider) -> str:
        return (obj.last_error[:80] + "...") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Run health check now")
    def run_health_check(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            result = provider_health_check(provider=provider)
            level = messages.SUCCESS if result.ok else messages.WARNING
            self.message_user(request, f"{provider.name}: {result.message} ({result.latency_ms} ms)", level)

    @admin.display(boolean=True, description="model listed")
    def model_listed(self, obj: Provider) -> bool | None:
        return obj.model_listed

    @admin.display(description="models the vendor lists")
    def listed_model_names(self, obj: Provider) -> str:
        return ", ".join(obj.listed_models or []) or "-"

    @admin.action(description="Refresh the model list from the vendor")
    def refresh_model_list(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            result = provider_health_check(provider=provider)
            if not result.ok:
                self.message_user(
                    request, f"{provider.name}: no model list ({result.message})", messages.WARNING
                )
            elif provider.model_listed is False:
                self.message_user(
                    request,
                    f"{provider.name}: model {provider.model!r} is no longer listed by the vendor "
                    f"({len(provider.listed_models)} models listed); choose a current one.",
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"{provider.name}: {len(provider.listed_models)} models listed.")

    @admin.action(description="Close the circuit breaker")
    def reset_circuit(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            provider_breaker_reset(provider=provider)
        self.message_user(request, f"Closed {queryset.count()} circuit(s).")

    @admin.action(description="Enable")
    def enable(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            provider_set_enabled(provider=provider, enabled=True)

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            provider_set_enabled(provider=provider, enabled=False)


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "operation",
        "provider_name",
        "model",
        "purpose",
        "agent",
        "classification",
        "outcome",
        "tokens_in",
        "tokens_out",
        "cost",
        "latency_ms",
    )
    list_filter = ("outcome", "operation", "classification", "provider_name")
    search_fields = ("purpose", "agent", "model", "error")
    date_hierarchy = "created_at"
    list_select_related = ("provider",)
    raw_id_fields = ("task", "step", "user", "organization", "provider")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ProviderCall | None = None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("scope", "organization", "user", "limit_usd", "enabled")
    list_filter = ("scope", "enabled")
    raw_id_fields = ("organization", "user")
