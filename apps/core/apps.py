from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.core import logging as amas_logging
        from apps.core import metrics_recorders, tracing

        # Process-wide operations wiring: API and worker metrics, the log context that travels
        # from web to worker in Celery headers, and tracing when an OTLP endpoint is configured.
        # Apps add their own metrics, gauges, log resolvers and health nodes in their ready().
        metrics_recorders.install()
        amas_logging.install()
        tracing.install()
