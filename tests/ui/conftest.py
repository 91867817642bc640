"""Fixtures for the dashboard tests. The browser fixtures (daphne + a real worker + Chromium)
live in browser.py and are imported by the browser test modules only."""

import pytest

from apps.agents.registry import agent_registry
from tests.tasks import agents


@pytest.fixture(autouse=True)
def test_agents():
    with agent_registry.registered(*agents.ALL):
        yield


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    client.user = analyst
    return client


@pytest.fixture
def viewer_client(client, user_factory):
    from apps.users.models import Role

    viewer = user_factory(role=Role.VIEWER)
    client.force_login(viewer)
    client.user = viewer
    return client
