from django.apps import AppConfig


class CasesConfig(AppConfig):
    """Investigations (cases) that group tasks, with tags, comments, a timeline and STIX 2.1
    exchange. Sits in the tasks layer: it uses tasks, knowledge, audit and users through their
    services and selectors, and nothing below imports it."""

    name = "apps.cases"
    label = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.cases import task_search

        task_search.register()
