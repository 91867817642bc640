from decimal import Decimal
from http import HTTPStatus

import pytest

from apps.providers import router
from apps.providers.models import Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, user_factory):
    def login(role):
        from tests.users.factories import enable_totp

        user = user_factory(role=role)
        if role == "admin":
            enable_totp(user)
        client.force_login(user)
        return client, user

    return login


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/v1/providers").status_code == HTTPStatus.UNAUTHORIZED


def test_list_shows_state_and_usage_but_never_a_key(as_role, vendor_factory, provider_factory, settings):
    settings.AMAS_PROVIDER_CACHE_TTL = 0
    fake = vendor_factory("openai")
    provider = provider_factory(
        fake,
        name="listed",
        cost_per_1k_input=Decimal("1"),
        cost_per_1k_output=Decimal("1"),
        api_key="sk-very-secret",
    )
    fake.api_key = "sk-very-secret"
    client, user = as_role("viewer")
    result = router.generate(
        [{"role": "user", "content": "x"}], purpose="t", classification="clear", user=user
    )
    assert result.provider == "listed"

    response = client.get("/api/v1/providers")
    assert response.status_code == HTTPStatus.OK
    assert "sk-very-secret" not in response.content.decode()
    rows = {row["name"]: row for row in response.json()}
    assert len(rows) == Provider.objects.count()
    row = rows["listed"]
    assert row["id"] == provider.id and row["has_key"] is True and "api_key" not in row
    assert (row["kind"], row["model"], row["enabled"], row["breaker_state"]) == (
        "openai",
        "fake-model",
        True,
        "closed",
    )
    assert row["calls_24h"] == 1 and row["success_rate"] == 1.0 and row["mean_latency_ms"] is not None
    assert Decimal(str(row["cost_total"])) == Decimal(str(result.cost)) > 0
    assert rows["Built-in (offline)"]["enabled"] is True


def test_usage_totals_are_per_organisation(as_role, vendor_factory, provider_factory, user_factory, settings):
    from apps.users.services import organization_get_or_create

    settings.AMAS_PROVIDER_CACHE_TTL = 0
    fake = vendor_factory("openai")
    provider_factory(fake, name="shared", cost_per_1k_input=Decimal("1"))
    outsider = user_factory(org=organization_get_or_create(name="Elsewhere"))
    router.generate([{"role": "user", "content": "x"}], purpose="t", classification="clear", user=outsider)
    client, _ = as_role("analyst")
    row = next(r for r in client.get("/api/v1/providers").json() if r["name"] == "shared")
    assert row["calls_24h"] == 0 and Decimal(str(row["cost_total"])) == 0


def test_health_check_needs_the_admin_role(as_role, vendor_factory, provider_factory):
    provider = provider_factory(vendor_factory("gemini"))
    client, _ = as_role("analyst")
    assert client.post(f"/api/v1/providers/{provider.id}/health").status_code == HTTPStatus.FORBIDDEN


def test_admin_runs_a_health_check(as_role, vendor_factory, provider_factory):
    fake = vendor_factory("gemini")
    provider = provider_factory(fake)
    client, _ = as_role("admin")
    response = client.post(f"/api/v1/providers/{provider.id}/health")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["ok"] is True and "models listed" in body["message"]
    assert fake.calls("models")
    provider.refresh_from_db()
    assert provider.last_health_ok is True and provider.last_health_at is not None

    fake.fail("401")
    body = client.post(f"/api/v1/providers/{provider.id}/health").json()
    assert body["ok"] is False and "auth" in body["message"]
    provider.refresh_from_db()
    assert provider.last_health_ok is False and "auth" in provider.last_error


def test_health_check_of_a_missing_provider_is_404(as_role):
    client, _ = as_role("admin")
    assert client.post("/api/v1/providers/999999/health").status_code == HTTPStatus.NOT_FOUND
