from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.agents import observability
        from apps.agents.builtin import AggregatorAgent
        from apps.agents.context import register_context_contributor
        from apps.agents.registry import agent_registry, load_entry_point_agents
        from apps.agents.secrets_context import add_config_secrets

        agent_registry.register(AggregatorAgent)
        _register_network_agents(agent_registry)
        _register_file_agents(agent_registry)
        load_entry_point_agents()
        register_context_contributor(add_config_secrets)
        observability.register()  # the agent utilisation gauge


def _register_network_agents(registry) -> None:
    """The agents that look at targets on the network (issue 5)."""
    from apps.agents.osint import OsintAgent
    from apps.agents.security import SecurityAgent

    registry.register(OsintAgent)
    registry.register(SecurityAgent)


def _register_file_agents(registry) -> None:
    """The agents that work on attached files, documents and data (issue 6)."""
    from apps.agents.analysis import AnalysisAgent
    from apps.agents.forensics import ForensicsAgent
    from apps.agents.ml import MLAgent

    registry.register(ForensicsAgent)
    registry.register(AnalysisAgent)
    registry.register(MLAgent)
