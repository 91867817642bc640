"""Health checks: per provider on demand, for all from beat (a real Celery worker here), and the
local Ollama preset switching itself on once it answers with its model pulled."""

import pytest

from apps.providers.models import Provider
from apps.providers.services import provider_health_check, provider_health_check_all
from apps.providers.tasks import health_check_all_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def ollama_preset(vendor_factory):
    fake = vendor_factory("ollama", api_key="", models=("llama3.2",), embedding_models=("nomic-embed-text",))
    Provider.objects.filter(name="Ollama (local)").update(base_url=fake.url)
    return fake, Provider.objects.get(name="Ollama (local)")


def test_a_reachable_ollama_with_its_model_is_enabled_automatically(ollama_preset):
    fake, preset = ollama_preset
    assert not preset.enabled
    result = provider_health_check(provider=preset)
    preset.refresh_from_db()
    assert result.ok and preset.enabled and preset.last_health_ok
    assert [r.path for r in fake.calls()] == ["/api/tags"]


def test_an_ollama_without_the_model_stays_off_and_says_why(vendor_factory):
    fake = vendor_factory("ollama", api_key="", models=("mistral",))
    Provider.objects.filter(name="Ollama (local)").update(base_url=fake.url)
    preset = Provider.objects.get(name="Ollama (local)")
    assert not provider_health_check(provider=preset).ok
    preset.refresh_from_db()
    assert not preset.enabled
    assert "llama3.2" in preset.last_error and "not pulled" in preset.last_error


def test_an_unreachable_ollama_stays_off(db):
    Provider.objects.filter(name="Ollama (local)").update(base_url="http://127.0.0.1:9", timeout=0.5)
    preset = Provider.objects.get(name="Ollama (local)")
    provider_health_check(provider=preset)
    preset.refresh_from_db()
    assert not preset.enabled and preset.last_health_ok is False and "connection" in preset.last_error


def test_check_all_covers_enabled_and_auto_enabling_providers_only(
    ollama_preset, vendor_factory, provider_factory
):
    checked = provider_health_check_all()
    assert set(checked) == {"Built-in (offline)", "Ollama (local)"}  # disabled presets are not called
    assert all(checked.values())


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_runs_on_a_worker(ollama_preset, celery_worker):
    fake, preset = ollama_preset
    result = health_check_all_task.delay().get(timeout=30)
    assert result["Ollama (local)"] is True
    preset.refresh_from_db()
    assert preset.enabled
