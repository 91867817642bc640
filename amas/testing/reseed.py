"""Rows that data migrations create (provider presets, agent configs, beat entries) are deleted by
the flush that ends every transactional test. Tests re-create them through the migrations' own,
idempotent functions, so a test sees the same database whatever ran before it."""

from importlib import import_module

from django.apps import apps

DATA_MIGRATIONS = [
    ("apps.providers.migrations.0002_presets", "create_presets"),
    ("apps.providers.migrations.0003_health_check_schedule", "schedule"),
    ("apps.providers.migrations.0005_model_catalogue", "apply"),
    ("apps.agents.migrations.0002_builtin_agent_configs", "create"),
]


def data_migration_rows_missing() -> bool:
    Provider = apps.get_model("providers", "Provider")
    return not Provider.objects.exists()


def reseed() -> None:
    for module, function in DATA_MIGRATIONS:
        getattr(import_module(module), function)(apps, None)
