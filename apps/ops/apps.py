from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operator endpoints: /metrics, /health/services and the service health page. It sits above
    the domain apps (next to the dashboard), so it may read any of them; core stays below them all."""

    name = "apps.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"
