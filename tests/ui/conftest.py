"""Fixtures for the dashboard tests: test agents, signed-in clients and, for the browser tests,
a daphne server speaking HTTP and websockets on the test database and Debian's Chromium."""

import sys
from pathlib import Path

import pytest

from apps.agents.registry import agent_registry
from tests.live_daphne import daphne_serving
from tests.tasks import agents

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# daphne in a subprocess, with the test agents registered as in the test process.
SERVER = """
import sys
import django
django.setup()
from apps.agents.registry import agent_registry
from tests.tasks.agents import ALL
for agent in ALL:
    agent_registry.register(agent)
from daphne.cli import CommandLineInterface
CommandLineInterface().run(sys.argv[1:])
"""


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


# ---------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def live_url(request, django_db_setup, django_db_blocker):
    """Base URL of a daphne server (HTTP + websockets) on the test database and Redis."""
    ARTIFACTS.mkdir(exist_ok=True)
    # One log per test module, so a failure's server log is still there after the run.
    log_path = ARTIFACTS / f"daphne-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    with daphne_serving(
        [sys.executable, "-c", SERVER, "tests.ui.asgi:application"], log_path=log_path
    ) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Browser tests need Debian's chromium: apt-get install -y chromium (or `make browser`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    # What went wrong in the page: script errors, and failed requests other than the favicon
    # that pages outside our layout (allauth's defaults) make the browser ask for.
    page.problems = []
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and page.problems.append(f"console: {m.text}")
        ),
    )
    page.on("pageerror", lambda e: page.problems.append(f"pageerror: {e}"))
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and not r.url.endswith("/favicon.ico")
            and page.problems.append(f"{r.status} {r.request.method} {r.url}")
        ),
    )
    yield page
    context.close()
