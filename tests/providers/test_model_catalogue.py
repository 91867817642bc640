"""The provider catalogue: current, dated preset defaults; the vendor's model list kept on the row
by health checks and the admin's refresh; a configured model the vendor no longer lists is shown."""

from http import HTTPStatus

import pytest

from apps.providers.models import Provider
from apps.providers.services import provider_health_check
from tests.providers.test_provider_admin import admin_client  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

RETIRED = {
    "DeepSeek": "deepseek-chat",
    "Kimi (Moonshot)": "kimi-k2-0711-preview",
    "Gemini": "gemini-2.5-flash",
    "Cerebras": "llama-3.3-70b",
    "Groq": "llama-3.3-70b-versatile",
    "Anthropic (Claude)": "claude-3-5-haiku-latest",
}


def test_presets_no_longer_default_to_retired_models_and_are_dated():
    presets = {p.name: p for p in Provider.objects.filter(tags__contains=["preset"])}
    assert len(presets) == 16
    for name, retired in RETIRED.items():
        assert presets[name].model != retired
    assert presets["Gemini"].embedding_model == "gemini-embedding-001"
    assert all(p.preset_checked_on is not None for p in presets.values())
    assert {p.preset_checked_on.isoformat() for n, p in presets.items() if n in RETIRED} == {"2026-11-29"}


def test_migration_keeps_a_model_the_admin_chose():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("apps.providers.migrations.0005_model_catalogue")
    Provider.objects.filter(name="Groq").update(model="my-own-model")
    Provider.objects.filter(name="Cerebras").update(model="llama-3.3-70b")
    migration.apply(apps, None)
    assert Provider.objects.get(name="Groq").model == "my-own-model"
    assert Provider.objects.get(name="Cerebras").model == "gpt-oss-120b"


@pytest.fixture
def provider_at(vendor_factory):
    def make(model: str, listed: tuple[str, ...]) -> Provider:
        fake = vendor_factory("openai", models=listed)
        return Provider.objects.create(
            name=f"Catalogue {model}", kind="openai", base_url=fake.url, model=model, api_key=fake.api_key
        )

    return make


def test_a_health_check_keeps_the_vendors_model_list(provider_at):
    provider = provider_at("current-model", ("current-model", "other-model"))
    assert provider.model_listed is None  # nothing fetched yet
    assert provider_health_check(provider=provider).ok
    provider.refresh_from_db()
    assert set(provider.listed_models) >= {"current-model", "other-model"}
    assert provider.models_listed_at is not None
    assert provider.model_listed is True


def test_a_model_the_vendor_no_longer_lists_is_flagged(provider_at):
    provider = provider_at("retired-model", ("current-model",))
    provider_health_check(provider=provider)
    provider.refresh_from_db()
    assert provider.model_listed is False


def test_the_admin_refreshes_the_list_and_sees_a_retired_model(admin_client, provider_at):  # noqa: F811
    retired = provider_at("retired-model", ("current-model",))
    current = provider_at("current-model", ("current-model",))
    response = admin_client.post(
        "/admin/providers/provider/",
        {"action": "refresh_model_list", "_selected_action": [retired.pk, current.pk]},
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "model &#x27;retired-model&#x27; is no longer listed by the vendor" in page
    assert "Catalogue current-model: 2 models listed." in page  # chat model + the fake's embedding model
    change = admin_client.get(f"/admin/providers/provider/{retired.pk}/change/").content.decode()
    assert "current-model" in change and "Model catalogue" in change
