"""Writes of agent configuration: health checks and their recorded outcome."""

from __future__ import annotations

import logging

from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from apps.agents.models import AgentConfig

log = logging.getLogger(__name__)


def agent_config_health_check(*, config: AgentConfig) -> tuple[bool, str]:
    """Run the agent's self-check against this config's parameters and record the outcome on the
    row (shown in admin and the API). Never raises: a crashing check is an unhealthy agent."""
    agent_class = config.agent_class
    if agent_class is None:
        ok, message = False, f"No code is registered for agent type {config.agent_type!r}."
    else:
        try:
            params = agent_class.Params(**(config.parameters or {}))
            ok, message = agent_class().check_health(params)
        except PydanticValidationError as exc:
            ok, message = False, f"Invalid parameters: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
        except Exception as exc:  # any crash of a health check is reported, not raised
            log.warning("Health check of %s crashed", config, exc_info=True)
            ok, message = False, f"{type(exc).__name__}: {exc}"
    config.last_health_ok = ok
    config.last_health_message = message[:500]
    config.last_health_at = timezone.now()
    config.save(update_fields=["last_health_ok", "last_health_message", "last_health_at", "updated_at"])
    return ok, message
