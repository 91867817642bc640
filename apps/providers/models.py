"""AI providers (admin-managed), the ledger (one row per router call) and budgets."""

from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.crypto import EncryptedTextField
from apps.core.models import TimeStampedModel
from apps.core.vocabulary import Classification

EXTERNAL_DEFAULT_CLASSIFICATIONS = [Classification.CLEAR.value, Classification.GREEN.value]


def default_allowed_classifications() -> list[str]:
    return list(EXTERNAL_DEFAULT_CLASSIFICATIONS)


class ProviderKind(StrEnum):
    """Names for the built-in API styles. Which kinds exist is the adapter registry
    (apps.providers.adapters, filled in ready()); a plug-in adapter adds one without a migration."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    COHERE = "cohere"
    OLLAMA = "ollama"
    BUILTIN = "builtin"


def validate_kind(value: str) -> None:
    from apps.providers.adapters import adapter_registry

    if value not in adapter_registry:
        known = ", ".join(adapter_registry.types())
        raise ValidationError(f"Unknown provider kind {value!r}; use one of {known}.", code="unknown_kind")


# Kinds that run on the operator's own machines; they may receive every classification.
LOCAL_KINDS = frozenset({ProviderKind.OLLAMA, ProviderKind.BUILTIN})


class Provider(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    # No `choices`: validated against the adapter registry (see ProviderKind).
    kind = models.CharField(max_length=16, validators=[validate_kind])
    base_url = models.URLField(max_length=500, blank=True)
    model = models.CharField(max_length=200, blank=True)
    embedding_model = models.CharField(
        max_length=200, blank=True, help_text="Empty: this provider is not used for embeddings."
    )
    api_key = EncryptedTextField(blank=True, help_text="Encrypted at rest; never shown again after saving.")
    priority = models.IntegerField(default=100, help_text="Lower runs first (priority strategy).")
    enabled = models.BooleanField(default=False)
    auto_enable = models.BooleanField(
        default=False, help_text="Enable automatically when a health check succeeds (local Ollama)."
    )
    timeout = models.FloatField(default=30.0, help_text="Seconds per HTTP request.")
    max_retries = models.PositiveSmallIntegerField(default=2)
    rpm_limit = models.PositiveIntegerField(default=0, help_text="Requests per minute; 0 = no limit.")
    tpm_limit = models.PositiveIntegerField(default=0, help_text="Tokens per minute; 0 = no limit.")
    cost_per_1k_input = models.DecimalField(max_digits=10, decimal_places=6, default=Decimal("0"))
    cost_per_1k_output = models.DecimalField(max_digits=10, decimal_places=6, default=Decimal("0"))
    allowed_classifications = models.JSONField(
        default=default_allowed_classifications,
        help_text="TLP levels this provider may receive (clear, green, amber, red).",
    )
    tags = models.JSONField(default=list, blank=True)
    last_health_at = models.DateTimeField(null=True, blank=True)
    last_health_ok = models.BooleanField(null=True, blank=True)
    last_health_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # What the vendor's models endpoint listed at the last health check or refresh: the admin sees
    # when the configured model is no longer offered (retired) before calls start failing.
    listed_models = models.JSONField(default=list, blank=True)
    models_listed_at = models.DateTimeField(null=True, blank=True)
    preset_checked_on = models.DateField(
        null=True,
        blank=True,
        help_text="When the preset's default models were last checked against the vendor.",
    )

    class Meta:
        ordering = ["priority", "name"]
        indexes = [models.Index(fields=["enabled", "priority"], name="provider_enabled_prio")]

    def __str__(self) -> str:
        return self.name

    def get_kind_display(self) -> str:
        from apps.providers.adapters import adapter_registry

        return adapter_registry.get(self.kind).label if self.kind in adapter_registry else self.kind

    @property
    def is_builtin(self) -> bool:
        return self.kind == ProviderKind.BUILTIN

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)

    @property
    def model_listed(self) -> bool | None:
        """Whether the vendor still lists the configured model; None before any list was fetched."""
        if self.models_listed_at is None or not self.model:
            return None
        listed = {m.removeprefix("models/") for m in self.listed_models or []}
        listed |= {m.removesuffix(":latest") for m in listed}
        wanted = self.model.removeprefix("models/")
        return wanted in listed or wanted.removesuffix(":latest") in listed

    def allows(self, classification: str) -> bool:
        return classification in (self.allowed_classifications or [])


class CallOutcome(models.TextChoices):
    OK = "ok"
    CACHED = "cached"
    ERROR = "error"
    REFUSED_BUDGET = "refused_budget"
    REFUSED_POLICY = "refused_policy"


class LedgerManager(models.Manager["ProviderCall"]):
    """Reads of the ledger see this process's own rows: rows written behind a call
    (apps.providers.bookkeeping) are flushed before a query is built."""

    def get_queryset(self) -> "models.QuerySet[ProviderCall]":
        from apps.providers import bookkeeping

        bookkeeping.flush()
        return super().get_queryset()


class ProviderCall(models.Model):
    """The ledger: one row per router call (generate or embed), whatever its outcome."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    operation = models.CharField(max_length=16, default="generate")  # generate | embed
    # The foreign keys a Meta index starts with have no index of their own (migration 0006).
    task = models.ForeignKey(
        "tasks.Task",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="provider_calls",
        db_index=False,
    )
    step = models.ForeignKey(
        "tasks.TaskStep", on_delete=models.SET_NULL, null=True, blank=True, related_name="provider_calls"
    )
    agent = models.CharField(max_length=64, blank=True)
    provider = models.ForeignKey(
        Provider, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls", db_index=False
    )
    provider_name = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    purpose = models.CharField(max_length=64, blank=True)
    classification = models.CharField(max_length=8, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=CallOutcome.choices)
    error = models.TextField(blank=True)
    attempts = models.JSONField(default=list, blank=True)
    organization = models.ForeignKey(
        "users.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    objects = LedgerManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["provider", "-created_at"], name="call_provider_created"),
            models.Index(fields=["task", "-created_at"], name="call_task_created"),
            models.Index(fields=["organization", "-created_at"], name="call_org_created"),
            models.Index(fields=["user", "-created_at"], name="call_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_name or '-'} {self.purpose} {self.outcome}"


class BudgetScope(models.TextChoices):
    PER_TASK = "per_task", "Per task"
    PER_USER_DAY = "per_user_day", "Per user per day (UTC)"
    PER_DAY = "per_day", "Per organisation per day (UTC)"


class Budget(TimeStampedModel):
    """A spending limit in USD. The most specific row wins (user, then organisation, then a row
    with neither); without a row the AMAS_BUDGET_* setting applies. 0 means unlimited."""

    scope = models.CharField(max_length=16, choices=BudgetScope.choices)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    limit_usd = models.DecimalField(max_digits=12, decimal_places=4)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "organization", "user"],
                name="budget_unique_scope_owner",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        owner = self.user or self.organization or "everyone"
        return f"{self.get_scope_display()} {owner}: ${self.limit_usd}"
