"""The provider admin: the key is write-only, breaker state and health are visible, the health
check runs from an action."""

from http import HTTPStatus

import pytest

from apps.providers import breaker
from apps.providers.models import Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, user_factory):
    from tests.users.factories import enable_totp

    admin = user_factory(role="admin")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    enable_totp(admin)
    client.force_login(admin)
    return client


def form_for(provider, **changes):
    data = {
        "name": provider.name,
        "kind": provider.kind,
        "priority": provider.priority,
        "tags": "[]",
        "base_url": provider.base_url,
        "model": provider.model,
        "embedding_model": provider.embedding_model,
        "allowed_classifications": provider.allowed_classifications,
        "timeout": provider.timeout,
        "max_retries": provider.max_retries,
        "rpm_limit": 0,
        "tpm_limit": 0,
        "cost_per_1k_input": "0.001",
        "cost_per_1k_output": "0.002",
        "api_key": "",
    }
    if provider.enabled:
        data["enabled"] = "on"
    data.update(changes)
    return data


def test_the_key_is_saved_encrypted_and_never_shown_again(admin_client):
    provider = Provider.objects.get(name="OpenAI")
    url = f"/admin/providers/provider/{provider.pk}/change/"
    response = admin_client.post(url, form_for(provider, api_key="sk-live-abcdef123456"))
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
    provider.refresh_from_db()
    assert provider.api_key == "sk-live-abcdef123456"

    page = admin_client.get(url).content.decode()
    assert "sk-live-abcdef123456" not in page
    assert "a key is stored" in page

    admin_client.post(url, form_for(provider, priority=5))  # blank key field keeps the key
    provider.refresh_from_db()
    assert (provider.api_key, provider.priority) == ("sk-live-abcdef123456", 5)

    admin_client.post(url, form_for(provider, clear_api_key="on"))
    provider.refresh_from_db()
    assert provider.api_key == ""


def test_the_list_shows_circuit_state(admin_client):
    provider = Provider.objects.get(name="Groq")
    for _ in range(10):
        breaker.record_failure(provider.pk, "server 503: overloaded")
    page = admin_client.get("/admin/providers/provider/").content.decode()
    assert "open (" in page
    detail = admin_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    assert "server 503: overloaded" in detail


def test_health_check_and_circuit_reset_actions(admin_client, vendor_factory, provider_factory):
    fake = vendor_factory("cohere")
    provider = provider_factory(fake, name="cohere-test")
    for _ in range(10):
        breaker.record_failure(provider.pk, "boom")
    response = admin_client.post(
        "/admin/providers/provider/",
        {"action": "run_health_check", "_selected_action": [provider.pk]},
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    assert "ohere-test: reachable, 1 models listed" in response.content.decode()  # capfirst-ed
    admin_client.post(
        "/admin/providers/provider/", {"action": "reset_circuit", "_selected_action": [provider.pk]}
    )
    assert breaker.state(provider.pk).state == breaker.CLOSED


def test_ledger_and_budgets_are_listed(admin_client):
    assert admin_client.get("/admin/providers/providercall/").status_code == HTTPStatus.OK
    assert admin_client.get("/admin/providers/budget/").status_code == HTTPStatus.OK
    assert admin_client.get("/admin/providers/budget/add/").status_code == HTTPStatus.OK
