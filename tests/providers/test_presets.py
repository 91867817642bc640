import pytest
from django_celery_beat.models import PeriodicTask

from apps.providers.models import Provider, ProviderKind

pytestmark = pytest.mark.django_db

PRESET_NAMES = {
    "DeepSeek",
    "GLM (Zhipu)",
    "Grok (xAI)",
    "Kimi (Moonshot)",
    "Qwen (DashScope)",
    "GPT-OSS (OpenRouter)",
    "Gemini",
    "NVIDIA",
    "Codestral (Mistral)",
    "Cerebras",
    "Cohere",
    "Chutes",
    "Groq",
    "OpenAI",
    "Anthropic (Claude)",
    "Ollama (local)",
}


def test_sixteen_presets_are_disabled_and_the_builtin_is_enabled_and_last():
    providers = list(Provider.objects.order_by("priority"))
    presets = [p for p in providers if p.name in PRESET_NAMES]
    assert len(presets) == 16
    assert not any(p.enabled for p in presets)
    assert providers[-1].kind == ProviderKind.BUILTIN and providers[-1].enabled


def test_external_presets_get_clear_and_green_only_local_ones_everything():
    for provider in Provider.objects.all():
        if provider.kind in (ProviderKind.OLLAMA, ProviderKind.BUILTIN):
            assert provider.allowed_classifications == ["clear", "green", "amber", "red"]
        else:
            assert provider.allowed_classifications == ["clear", "green"]


def test_health_check_runs_on_beat_in_the_providers_queue():
    job = PeriodicTask.objects.get(name="providers.health_check_all")
    assert job.task == "providers.health_check_all"
    assert job.queue == "providers"
    assert job.enabled


def test_api_key_is_encrypted_at_rest():
    from django.db import connection

    provider = Provider.objects.get(name="OpenAI")
    provider.api_key = "sk-secret-value"
    provider.save(update_fields=["api_key"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM providers_provider WHERE id = %s", [provider.id])
        stored = cursor.fetchone()[0]
    assert "sk-secret-value" not in stored
    assert Provider.objects.get(pk=provider.pk).api_key == "sk-secret-value"


def test_api_key_survives_key_rotation(settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key = settings.AMAS_ENCRYPTION_KEYS[0]
    provider = Provider.objects.get(name="Groq")
    provider.api_key = "gsk-rotate-me"
    provider.save(update_fields=["api_key"])
    new_key = Fernet.generate_key().decode()
    settings.AMAS_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("reencrypt_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.AMAS_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert Provider.objects.get(pk=provider.pk).api_key == "gsk-rotate-me"
