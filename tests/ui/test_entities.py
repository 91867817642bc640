"""Entities you can browse, in Chromium under the site's CSP: the autocomplete leads to an entity
page and on to its neighbours; the graph page is inline SVG whose labels take the theme's text
colour in light and dark; no console error, no sideways scroll at 390 px; screenshots light,
dark and mobile."""

import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apps.agents.base import Entity, Relation
from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store
from tests.tasks.factories import make_result, make_task
from tests.ui.browser import log_in, screenshot
from tests.ui.test_reports import WIDE_ELEMENTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
LONG_URL = "https://downloads.example.org/" + "a" * 120 + "/payload.bin"


@pytest.fixture
def graph(analyst):
    task = make_task(analyst.organization, user=analyst, title="Phishing kit triage")
    result = make_result(task, agent="osint")
    get_graph_store().upsert(
        GraphBatch(
            provenance=Provenance(analyst.organization_id, str(task.pk), str(result.pk), "osint"),
            seen_at=datetime(2026, 3, 1, tzinfo=UTC),
            relations=[
                Relation(Entity("domain", "example.org"), "resolves_to", Entity("ip", "192.0.2.1")),
                Relation(Entity("domain", "example.org"), "hosts", Entity("url", LONG_URL)),
                *(
                    Relation(
                        Entity("domain", "example.org"), "links_to", Entity("domain", f"n{i}.example.net")
                    )
                    for i in range(12)
                ),
            ],
        )
    )
    return task


def _problems(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    return problems


def test_autocomplete_leads_to_the_entity_page_and_its_neighbours(page, live_url, analyst, graph):
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/entities/")

    page.get_by_label("Value starts with").press_sequentially("exam", delay=30)
    suggestion = page.locator("#entity-suggestions").get_by_role("link", name="domain example.org")
    expect(suggestion).to_be_visible()
    screenshot(page, "entities-autocomplete")
    suggestion.click()

    expect(page.locator("h1")).to_contain_text("example.org")
    expect(page.get_by_role("link", name="Phishing kit triage")).to_be_visible()
    expect(page.locator("dl.entity-facts")).to_contain_text("2026-03-01")
    screenshot(page, "entity-page")
    page.locator("#neighbours-title + .table-wrap").get_by_role("link", name="192.0.2.1").click()
    expect(page.locator("h1")).to_contain_text("192.0.2.1")
    expect(page.get_by_role("cell", name="← resolves to")).to_be_visible()
    assert page.problems == []


def test_graph_page_picks_an_entity_and_draws_it_without_csp_errors(page, live_url, analyst, graph):
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/graph/")

    page.get_by_label("Value", exact=True).press_sequentially("192.0", delay=30)
    page.locator("#entity-suggestions").get_by_role("link", name="ip 192.0.2.1").click()

    expect(page.locator("#graph-canvas svg .node")).to_have_count(2)
    page.get_by_label("Depth").select_option("2")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#graph-canvas svg .node")).to_have_count(15)
    screenshot(page, "graph-light")
    # A node is a link to its entity page.
    page.locator('#graph-canvas a.node[data-entity="domain:n3.example.net"]').click()
    expect(page.locator("h1")).to_contain_text("n3.example.net")
    assert page.problems == []


# The labels' fill is the theme's text colour, and their halo the card's surface (the
# background they sit on), so they read in light and dark alike.
LABEL_COLOURS = """() => {
  const label = getComputedStyle(document.querySelector('#graph-canvas .node text'));
  const card = getComputedStyle(document.querySelector('#graph-canvas'));
  return {fill: label.fill, halo: label.stroke, text: getComputedStyle(document.body).color,
          surface: card.backgroundColor};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_graph_labels_follow_the_theme(chromium, live_url, analyst, graph, scheme):
    context = chromium.new_context(color_scheme=scheme, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    problems = _problems(page)
    try:
        log_in(page, live_url, analyst)
        page.goto(f"{live_url}/graph/?kind=domain&value=example.org&depth=2")
        expect(page.locator("#graph-canvas svg .node")).to_have_count(15)
        colours = page.evaluate(LABEL_COLOURS)
        assert colours["fill"] == colours["text"] and colours["halo"] == colours["surface"], colours
        assert colours["fill"] != colours["surface"]
        dark_text = colours["text"] in {"rgb(27, 31, 36)"}
        assert dark_text == (scheme == "light"), colours
        screenshot(page, f"graph-{scheme}")
        page.goto(f"{live_url}/entities/view/?kind=domain&value=example.org")
        screenshot(page, f"entity-page-{scheme}")
        assert problems == [], problems
    finally:
        context.close()


def test_entity_pages_at_390_px_do_not_scroll_sideways(chromium, live_url, analyst, graph):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    problems = _problems(page)
    pages = {
        "entities": "/entities/?q=ex",
        "entity-page": "/entities/view/?kind=domain&value=example.org",
        "entity-long-url": f"/entities/view/?kind=url&value={LONG_URL}",
        "graph": "/graph/?kind=domain&value=example.org&depth=2",
    }
    try:
        log_in(page, live_url, analyst)
        wide = {}
        for name, path in pages.items():
            response = page.goto(f"{live_url}{path}")
            assert response.status == 200, path
            page.wait_for_load_state("networkidle")
            if not page.evaluate(NO_SIDEWAYS_SCROLL):
                wide[path] = page.evaluate(WIDE_ELEMENTS)
            screenshot(page, f"mobile-{name}")
        assert wide == {}, wide
        assert problems == [], problems
    finally:
        context.close()


def test_an_unknown_entity_is_a_404_page_in_the_layout(page, live_url, analyst, graph):
    log_in(page, live_url, analyst)
    response = page.goto(f"{live_url}/entities/view/?kind=domain&value=unknown-{uuid.uuid4().hex[:6]}.org")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("No entity domain:unknown-")
    expect(page.get_by_role("link", name="Search the entities")).to_be_visible()
    page.problems.clear()  # the 404 itself, which this test asked for
