from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.tasks import observability

        # Task/step metrics and the log context of step messages: core records neither itself.
        observability.register()
