"""Fixtures for the provider tests: fake vendors on free ports, providers pointing at them, and a
clean slate of the provider layer's shared state (Redis keys, in-process caches) per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from tests.providers.fakes import FakeVendor


@pytest.fixture
def vendor_factory() -> Iterator[Callable[..., FakeVendor]]:
    started: list[FakeVendor] = []

    def make(style: str = "openai", **kwargs) -> FakeVendor:
        fake = FakeVendor(style=style, **kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def vendor(vendor_factory) -> FakeVendor:
    return vendor_factory("openai")


@pytest.fixture(autouse=True)
def fresh_provider_rows(settings):
    """Tests change rows with QuerySet.update() (no signals): read them fresh on every call.
    test_provider_config_cache.py covers the cache itself."""
    settings.AMAS_PROVIDER_CONFIG_TTL = 0


@pytest.fixture(autouse=True, scope="session")
def bookkeeping_stopped(django_db_setup):
    """The router's bookkeeping thread holds a database connection: end it before the test
    database is dropped (depending on django_db_setup orders this teardown before that one)."""
    yield
    from apps.providers import bookkeeping

    bookkeeping.stop()


@pytest.fixture(autouse=True)
def provider_state_reset():
    """Breakers, buckets, stats, budgets and cache entries of one test never leak into the next."""
    from apps.providers import bookkeeping, budgets, cache, redis_client

    def wipe() -> None:
        bookkeeping.flush()  # nothing of one test is written behind into the next
        conn = redis_client.client()
        keys = list(conn.scan_iter(match=redis_client.PREFIX + "*", count=1000))
        if keys:
            conn.delete(*keys)
        cache.clear_local()
        budgets.clear_cache()

    wipe()
    yield
    wipe()


@pytest.fixture
def only_providers(db):
    """Disable every preset (and the built-in) so a test routes only to the providers it creates."""
    from apps.providers.models import Provider

    Provider.objects.update(enabled=False, auto_enable=False)


@pytest.fixture
def provider_factory(db):
    from apps.providers.models import Provider

    counter = {"n": 0}

    def make(fake: FakeVendor | None = None, **fields) -> Provider:
        counter["n"] += 1
        defaults = {
            "name": f"test-{fields.get('kind', fake.style if fake else 'openai')}-{counter['n']}",
            "kind": fake.style if fake else "openai",
            "base_url": fake.url if fake else "",
            "model": fake.models[0] if fake else "fake-model",
            "embedding_model": fake.embedding_models[0] if fake else "",
            "api_key": fake.api_key if fake else "",
            "enabled": True,
            "priority": 10 * counter["n"],
            "timeout": 0.5,
            "max_retries": 0,
            "allowed_classifications": ["clear", "green", "amber", "red"],
            "cost_per_1k_input": Decimal("0"),
            "cost_per_1k_output": Decimal("0"),
        }
        defaults.update(fields)
        return Provider.objects.create(**defaults)

    return make


def test_database_url() -> str:
    """DATABASE_URL pointing at pytest-django's test database (for a second Django process)."""
    from django.db import connection

    url = os.environ["DATABASE_URL"]
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{connection.settings_dict['NAME']}" + (f"?{query}" if query else "")


@pytest.fixture
def second_process():
    """Run Python code in another process with Django set up on the same database and Redis."""

    def run(code: str, *, extra_env: dict[str, str] | None = None, timeout: float = 60) -> str:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "amas.settings.test",
            "DATABASE_URL": test_database_url(),
            **(extra_env or {}),
        }
        prelude = "import django; django.setup()\n"
        done = subprocess.run(
            [sys.executable, "-c", prelude + code], capture_output=True, text=True, env=env, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(f"second process failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    return run
