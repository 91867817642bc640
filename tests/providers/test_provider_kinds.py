"""Provider kinds are the adapter registry's types, not a choices list: an adapter registered by
a plug-in is a kind the admin can pick with no migration; an unknown kind is refused by name."""

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError

from apps.providers.adapters import adapter_registry
from apps.providers.adapters.builtin import BuiltinAdapter
from apps.providers.models import Provider

pytestmark = pytest.mark.django_db


class LocalEchoAdapter(BuiltinAdapter):
    """A plug-in adapter (offline, so the test needs no vendor)."""

    type = kind = "local_echo"
    label = "Local echo (plug-in)"


@pytest.fixture
def admin_client(client, user_factory):
    from tests.users.factories import enable_totp

    admin = user_factory(role="admin")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    enable_totp(admin)
    client.force_login(admin)
    return client


def add_form(**changes):
    data = {
        "name": "echo",
        "kind": "local_echo",
        "priority": 50,
        "tags": "[]",
        "base_url": "",
        "model": "echo-1",
        "embedding_model": "",
        "allowed_classifications": ["clear"],
        "timeout": 5,
        "max_retries": 0,
        "rpm_limit": 0,
        "tpm_limit": 0,
        "cost_per_1k_input": "0",
        "cost_per_1k_output": "0",
        "api_key": "echo-key-123",
    }
    data.update(changes)
    return data


def test_a_registered_adapter_is_a_kind_the_admin_can_pick(admin_client):
    with adapter_registry.registered(LocalEchoAdapter):
        page = admin_client.get("/admin/providers/provider/add/").content.decode()
        assert 'value="local_echo"' in page and "Local echo (plug-in)" in page
        response = admin_client.post("/admin/providers/provider/add/", add_form())
        assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
        provider = Provider.objects.get(name="echo")
        assert provider.kind == "local_echo"
        assert provider.get_kind_display() == "Local echo (plug-in)"
        assert provider.api_key == "echo-key-123", "the new key went through provider_set_api_key"
        provider.full_clean()


def test_an_unknown_kind_is_refused_by_name(admin_client):
    response = admin_client.post("/admin/providers/provider/add/", add_form(name="ghost", kind="ghost"))
    assert response.status_code == HTTPStatus.OK  # the form again, with the error
    assert "ghost" in response.content.decode()
    assert not Provider.objects.filter(name="ghost").exists()

    with pytest.raises(ValidationError) as err:
        Provider(name="ghost", kind="ghost").full_clean()
    assert "Unknown provider kind 'ghost'" in str(err.value.message_dict["kind"])
