"""REST API for agents under /api/v1/agents: what is configured, and its health."""

from http import HTTPStatus
from typing import Any

from django.http import HttpRequest
from ninja import Router

from apps.agents import selectors, services
from apps.agents.concurrency import agent_slots_in_use_many
from apps.agents.models import AgentConfig
from apps.agents.schemas import AgentHealthOut, AgentOut
from apps.core.api_errors import errors
from apps.users.permissions import require_scope

router = Router(tags=["agents"])


def _agent_out(config: AgentConfig, slots_in_use: int) -> dict[str, Any]:
    agent = config.agent_class
    return {
        "id": config.pk,
        "name": config.name,
        "agent_type": config.agent_type,
        "label": agent.label if agent else config.name,
        "description": config.description or (agent.description if agent else ""),
        "registered": agent is not None,
        "enabled": config.enabled,
        "capabilities": sorted(config.effective_capabilities()),
        "task_types": sorted(agent.task_types) if agent else [],
        "target_kinds": sorted(agent.target_kinds) if agent else [],
        "concurrency_limit": config.concurrency_limit,
        "slots_in_use": slots_in_use,
        "timeout_seconds": config.timeout_seconds,
        "max_attempts": config.max_attempts,
        "queue": config.queue,
        "max_classification": config.max_classification,
        "provider_strategy": config.provider_strategy,
        "parameters": config.parameters,
        "parameter_schema": agent.parameter_schema() if agent else {},
        "has_secrets": bool(config.secrets),
        "health": _health_out(config),
    }


def _health_out(config: AgentConfig) -> dict[str, Any]:
    return {
        "ok": config.last_health_ok,
        "message": config.last_health_message,
        "checked_at": config.last_health_at,
    }


@router.get("/agents", response={HTTPStatus.OK: list[AgentOut], **errors()}, url_name="list_agents")
def list_agents(request: HttpRequest):
    require_scope(request, "agents:read")
    configs = list(selectors.agent_config_list())
    slots = agent_slots_in_use_many([c.pk for c in configs])
    return [_agent_out(c, slots.get(c.pk, 0)) for c in configs]


@router.get(
    "/agents/{config_id}", response={HTTPStatus.OK: AgentOut, **errors(404, 422)}, url_name="get_agent"
)
def get_agent(request: HttpRequest, config_id: int):
    require_scope(request, "agents:read")
    config = selectors.agent_config_get(config_id=config_id)
    return _agent_out(config, agent_slots_in_use_many([config.pk])[config.pk])


@router.post(
    "/agents/{config_id}/health",
    response={HTTPStatus.OK: AgentHealthOut, **errors(404, 422)},
    url_name="check_agent_health",
)
def check_agent_health(request: HttpRequest, config_id: int):
    """Run the agent's health check now (admins) and return its outcome, also stored on the config."""
    require_scope(request, "admin")
    config = selectors.agent_config_get(config_id=config_id)
    services.agent_config_health_check(config=config)
    return HTTPStatus.OK, _health_out(config)
