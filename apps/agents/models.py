"""Admin-managed agent configuration: which agents run, with what parameters and limits, how the
decision engine weighs them, and where agents may reach on the network."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from pydantic import ValidationError as PydanticValidationError

from apps.core.crypto import EncryptedJSONField
from apps.core.models import TimeStampedModel
from apps.core.vocabulary import Classification


class ProviderStrategy(models.TextChoices):
    DEFAULT = "", "Router default"
    PRIORITY = "priority", "Priority"
    ROUND_ROBIN = "round_robin", "Round robin"
    FASTEST = "fastest", "Fastest"
    CHEAPEST = "cheapest", "Cheapest"
    INTELLIGENT = "intelligent", "Intelligent (success, latency, cost)"


class AgentConfig(TimeStampedModel):
    """One configured instance of an agent type. Several configs of one type may exist (e.g. OSINT
    against two resolver sets); the decision engine treats each as a candidate of its own."""

    agent_type = models.CharField(max_length=64, db_index=True, help_text="The registered agent type.")
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    parameters = models.JSONField(default=dict, blank=True, help_text="Validated against the agent's schema.")
    secrets = EncryptedJSONField(blank=True, default=dict, help_text="Encrypted at rest; never shown again.")
    capabilities = models.JSONField(
        default=list, blank=True, help_text="Capability names; empty means the agent's own."
    )
    concurrency_limit = models.PositiveIntegerField(
        default=4, validators=[MinValueValidator(1)], help_text="Steps running at once, across all workers."
    )
    timeout_seconds = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1)])
    max_attempts = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1)])
    queue = models.CharField(max_length=64, default="agents", help_text="Celery queue its steps go to.")
    max_classification = models.CharField(
        max_length=8,
        choices=Classification.choices,
        default=Classification.AMBER,
        help_text="The most sensitive task classification this agent may receive.",
    )
    provider_strategy = models.CharField(
        max_length=16, choices=ProviderStrategy.choices, blank=True, default=ProviderStrategy.DEFAULT
    )
    last_health_ok = models.BooleanField(null=True, blank=True)
    last_health_message = models.CharField(max_length=500, blank=True)
    last_health_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agent_type", "name"]
        indexes = [models.Index(fields=["agent_type", "enabled"], name="agentconfig_type_enabled")]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent_type})"

    @property
    def agent_class(self) -> Any:
        """The registered class, or None when no code is registered for the type (yet)."""
        from apps.agents.registry import agent_registry

        return agent_registry.get(self.agent_type) if self.agent_type in agent_registry else None

    def effective_capabilities(self) -> frozenset[str]:
        if self.capabilities:
            return frozenset(self.capabilities)
        agent = self.agent_class
        return frozenset(agent.capabilities) if agent else frozenset()

    def clean(self) -> None:
        agent = self.agent_class
        if agent is None:
            raise ValidationError({"agent_type": f"No agent of type {self.agent_type!r} is registered."})
        try:
            agent.Params(**(self.parameters or {}))
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
            )
            raise ValidationError({"parameters": problems}) from None
        if not isinstance(self.capabilities, list) or not all(isinstance(c, str) for c in self.capabilities):
            raise ValidationError({"capabilities": "A list of capability names."})


class DecisionSettings(models.Model):
    """A single row: the admin's weights for the decision engine. Blank weights fall back to
    settings.AMAS_DECISION_WEIGHTS; a task may override them in parameters["decision_weights"]."""

    performance_weight = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    cost_weight = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    reliability_weight = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    explore = models.BooleanField(
        default=True,
        help_text="Sample success rates (Thompson) so new agents get tried; off: use the posterior mean.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "decision settings"
        verbose_name_plural = "decision settings"

    def __str__(self) -> str:
        return "Decision settings"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    def weights(self) -> dict[str, float]:
        values = {
            "performance": self.performance_weight,
            "cost": self.cost_weight,
            "reliability": self.reliability_weight,
        }
        return {k: v for k, v in values.items() if v is not None}


def _validate_network_or_host(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
        return
    except ValueError:
        pass
    host = value.removeprefix("*.").rstrip(".")
    labels = host.split(".")
    if not host or not all(labels) or any(len(label) > 63 for label in labels):
        raise ValidationError(f"{value!r} is neither an IP address, a CIDR nor a host name.")


class EgressAllowlistEntry(models.Model):
    """An address range or host name that outbound requests may reach although it is private,
    loopback or otherwise refused by default (an internal RDAP server, a lab network)."""

    value = models.CharField(
        max_length=255,
        unique=True,
        validators=[_validate_network_or_host],
        help_text="CIDR, IP or host name.",
    )
    note = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "egress allowlist entry"
        verbose_name_plural = "egress allowlist"
        ordering = ["value"]

    def __str__(self) -> str:
        return self.value


class AuthorisedTarget(models.Model):
    """A domain (and its subdomains) or CIDR that the organisation is authorised to probe actively
    (port checks, exposure checks). Everything else is refused with a clear message."""

    value = models.CharField(
        max_length=255, unique=True, validators=[_validate_network_or_host], help_text="Domain or CIDR."
    )
    note = models.CharField(max_length=255, blank=True, help_text="Who authorised it, and until when.")
    enabled = models.BooleanField(default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["value"]

    def __str__(self) -> str:
        return self.value


# The forensics agent's admin-managed rules and hash sets live in their own module (issue 6).
from apps.agents.forensics_models import *  # noqa: E402, F403
