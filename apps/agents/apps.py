from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.agents.builtin import AggregatorAgent
        from apps.agents.registry import agent_registry, load_entry_point_agents

        agent_registry.register(AggregatorAgent)
        load_entry_point_agents()
