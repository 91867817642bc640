"""Reads of agent configuration."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.agents.models import AgentConfig, DecisionSettings
from apps.core.exceptions import NotFound


def agent_config_list(*, enabled: bool | None = None) -> QuerySet[AgentConfig]:
    configs = AgentConfig.objects.all()
    if enabled is not None:
        configs = configs.filter(enabled=enabled)
    return configs.order_by("agent_type", "name")


def agent_config_get(*, config_id: int) -> AgentConfig:
    config = AgentConfig.objects.filter(pk=config_id).first()
    if config is None:
        raise NotFound(f"No agent config {config_id}.")
    return config


def agent_config_secrets(*, config_id: int | None) -> dict:
    """The decrypted secrets of a config, for the agent that runs under it (never for display)."""
    if config_id is None:
        return {}
    config = AgentConfig.objects.filter(pk=config_id).only("secrets").first()
    return dict(config.secrets) if config else {}


def decision_settings_get() -> DecisionSettings | None:
    return DecisionSettings.objects.filter(pk=1).first()
