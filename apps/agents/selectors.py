"""Reads of agent configuration."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.agents.models import AgentConfig, DecisionSettings
from apps.core.config_cache import ConfigCache, config_changed
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


# The decision engine reads these on every task it plans; they change only when an admin edits
# them. Kept per process and dropped on any change (apps/core/config_cache.py; the receiver is
# connected in AgentsConfig.ready()). Shared between threads: read, never mutate.
_decision_settings: ConfigCache[DecisionSettings | None] = ConfigCache("agents.decision-settings")
_decision_configs: ConfigCache[tuple[tuple[AgentConfig, ...], frozenset[str]]] = ConfigCache(
    "agents.decision-configs"
)


def decision_settings_current() -> DecisionSettings | None:
    """The admin's decision settings row (cached; see above)."""
    return _decision_settings.get(None, decision_settings_get)


def agent_configs_for_decision() -> tuple[tuple[AgentConfig, ...], frozenset[str]]:
    """(the enabled configs, every agent type that has any config row, enabled or not) (cached)."""

    def load() -> tuple[tuple[AgentConfig, ...], frozenset[str]]:
        configs = tuple(AgentConfig.objects.all())
        return tuple(c for c in configs if c.enabled), frozenset(c.agent_type for c in configs)

    return _decision_configs.get(None, load)


def decision_cache_drop(sender: Any, **kwargs: Any) -> None:
    """post_save/post_delete receiver for AgentConfig and DecisionSettings."""
    config_changed(sender, **kwargs)
