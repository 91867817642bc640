"""The web and beat processes (and a worker before it runs a heavy step) must not load the
scientific stack: numpy, scikit-learn, scipy and matplotlib cost ~130 MiB per process, and every
process registers every agent at start-up (issue 19's footprint aim). Agents that need them import
them inside the methods that use them; this test keeps a top-level import from coming back.

Each entry point is imported in a fresh interpreter, since this test process has long loaded them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "sklearn", "scipy", "matplotlib", "pandas")

ENTRY_POINTS = {
    # What daphne loads: the ASGI application (django.setup(), every AppConfig.ready(), URLs).
    "web": "import amas.asgi\nfrom django.urls import get_resolver\nget_resolver().url_patterns\n",
    # What `celery -A amas beat` and a worker's main process load: the app, Django through
    # Celery's fixup, every tasks module, and the database scheduler.
    "beat": (
        "from amas.celery import app\n"
        "app.loader.import_default_modules()\n"
        "import django_celery_beat.schedulers\n"
    ),
}

PROBE = "\nimport json, sys\nprint(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))\n"


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_point_does_not_import_the_scientific_stack(entry):
    code = ENTRY_POINTS[entry] + PROBE.format(heavy=HEAVY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "amas.settings.local"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{entry} imports {loaded} at start-up; import them where they are used"


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: an entry point that does import numpy is reported."""
    code = ENTRY_POINTS["beat"] + "import apps.agents.ml.anomaly\n" + PROBE.format(heavy=HEAVY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "amas.settings.local"}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert {"numpy", "sklearn"} <= set(json.loads(run.stdout.strip().splitlines()[-1]))
