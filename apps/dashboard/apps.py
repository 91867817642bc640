from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Every server-rendered page. The top layer (with ops): it reads the other apps through
    their selectors and writes through their services; no app below imports it."""

    name = "apps.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
