from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.agents.context import register_context_contributor
        from apps.agents.history import register_agent_history
        from apps.core.config_cache import register_companion_key
        from apps.tasks import observability
        from apps.tasks.agent_history import VERSION_KEY as HISTORY_VERSION_KEY
        from apps.tasks.agent_history import (
            TaskAgentHistory,
            contribute_history,
            history_changed,
            history_events_committed,
        )
        from apps.tasks.hooks import register_events_hook
        from apps.tasks.models import Result

        # The decision engine reads agent history, and agents earlier results, through these.
        register_agent_history(TaskAgentHistory())
        register_context_contributor(contribute_history)
        post_save.connect(history_changed, sender=Result, dispatch_uid="tasks.agent_history_saved")
        post_delete.connect(history_changed, sender=Result, dispatch_uid="tasks.agent_history_deleted")
        # The worker writes Results with its own upsert (no post_save); a step's event names its
        # result, and events hooks run after the commit, for completed and failed steps alike.
        register_events_hook(history_events_committed)
        # A submission reads the history's version with the configuration version: one round trip.
        register_companion_key(HISTORY_VERSION_KEY)

        # Task/step metrics and the log context of step messages: core records neither itself.
        observability.register()
