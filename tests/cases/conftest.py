import pytest

from tests.tasks.conftest import fast_pipeline, test_agents  # noqa: F401 - the tasks' test agents and timings


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    client.user = analyst
    return client


def post(api, path: str, body) -> object:
    return api.post(f"/api/v1{path}", body, content_type="application/json")


def patch(api, path: str, body) -> object:
    return api.patch(f"/api/v1{path}", body, content_type="application/json")
