"""The graph page and the search page in a real browser (Debian's Chromium) under the site's CSP:
the neighbourhood is inline SVG drawn on the server."""

import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apps.agents.base import Entity, Relation
from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store
from apps.knowledge.indexing import result_index_and_embed
from tests.tasks.factories import make_result, make_task
from tests.ui.browser import log_in, screenshot
from tests.ui.conftest import chromium, live_url, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_graph_page_draws_the_neighbourhood(page, live_url, analyst):  # noqa: F811
    task = make_task(analyst.organization, created_by=analyst)
    get_graph_store().upsert(
        GraphBatch(
            provenance=Provenance(analyst.organization_id, str(task.pk), str(uuid.uuid4()), "osint"),
            seen_at=datetime(2026, 3, 1, tzinfo=UTC),
            relations=[
                Relation(Entity("domain", "example.org"), "resolves_to", Entity("ip", "192.0.2.1")),
                Relation(
                    Entity("domain", "example.org"), "mail_handled_by", Entity("domain", "mx.example.org")
                ),
            ],
        )
    )
    log_in(page, live_url, analyst)

    page.goto(f"{live_url}/graph/?kind=domain&value=example.org&depth=1")

    expect(page.locator(".graph-figure figcaption")).to_contain_text("3 entities, 2 relations")
    expect(page.locator("#graph-canvas svg .node")).to_have_count(3)
    screenshot(page, "knowledge-graph")
    assert page.problems == []


def test_search_page_in_the_browser(page, live_url, analyst, builtin_provider):  # noqa: F811
    task = make_task(analyst.organization, created_by=analyst, title="Loader analysis")
    result_index_and_embed(result_id=make_result(task, summary="GootLoader delivered via SEO poisoning").pk)
    log_in(page, live_url, analyst)

    page.goto(f"{live_url}/search/")
    page.get_by_label("Find").fill("seo poisoning")
    page.get_by_role("button", name="Search").click()

    expect(page.locator(".search-hit mark").first).to_have_text("SEO")
    expect(page.get_by_role("link", name="Loader analysis").first).to_be_visible()
    screenshot(page, "knowledge-search")
    assert page.problems == []
