"""Each settings mode loads in a fresh interpreter with only the environment we give it."""

import os
import subprocess
import sys

import pytest


def _load(module: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    clean.update(env, DJANGO_SETTINGS_MODULE=module)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DEBUG, bool(settings.SECRET_KEY))"
    )
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("module", ["amas.settings.local", "amas.settings.test"])
def test_development_modes_load_with_defaults(module):
    result = _load(module)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "True"


def test_production_refuses_to_start_without_secret_key():
    result = _load("amas.settings.production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_production_loads_with_secret_key_and_is_locked_down():
    result = _load("amas.settings.production", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
