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
        _connect_decision_cache()


def _connect_decision_cache() -> None:
    """The decision engine's per-process cache forgets configs and settings when they change."""
    from django.db.models.signals import post_delete, post_save

    from apps.agents.models import AgentConfig, DecisionSettings
    from apps.agents.selectors import decision_cache_drop

    for model in (AgentConfig, DecisionSettings):
        for signal in (post_save, post_delete):
            signal.connect(decision_cache_drop, sender=model, dispatch_uid=f"decision-cache-{model.__name__}")


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
