"""Entities you can browse: the search and its autocomplete fragment, the entity page (facts,
the tasks and results that name it, its neighbours), the graph page drawn as SVG; all scoped to
the user's organisation and with a query count that does not grow with the graph."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from http import HTTPStatus

import pytest

from apps.agents.base import Entity, Relation
from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db

SEEN = datetime(2026, 3, 1, tzinfo=UTC)


def _report(org_id: int, task, result, when: datetime, relations=(), entities=()) -> None:
    get_graph_store().upsert(
        GraphBatch(
            provenance=Provenance(org_id, str(task.pk), str(result.pk), result.agent),
            seen_at=when,
            entities=list(entities),
            relations=list(relations),
        )
    )


@pytest.fixture
def graph(analyst):
    org = analyst.organization
    first = make_task(org, user=analyst, title="Phishing kit triage")
    second = make_task(org, user=analyst, title="Mail server sweep")
    r1 = make_result(first, agent="osint")
    r2 = make_result(second, agent="security")
    _report(
        org.pk,
        first,
        r1,
        SEEN,
        relations=[
            Relation(Entity("domain", "example.org"), "resolves_to", Entity("ip", "192.0.2.1")),
            Relation(Entity("domain", "mx.example.org"), "handles_mail_for", Entity("domain", "example.org")),
        ],
    )
    _report(org.pk, second, r2, SEEN + timedelta(days=2), entities=[Entity("domain", "Example.ORG")])
    return {"tasks": (first, second), "results": (r1, r2)}


def _links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def test_entity_page_shows_facts_mentions_and_neighbours(client, analyst, graph):
    client.force_login(analyst)
    response = client.get("/entities/view/", {"kind": "domain", "value": "EXAMPLE.org"})

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "2026-03-01" in html and "2026-03-03" in html  # first and last seen
    first, second = graph["tasks"]
    r1, r2 = graph["results"]
    links = _links(html)
    assert f"/tasks/{first.pk}/" in links and f"/tasks/{second.pk}/#result-{r2.pk}" in links
    assert "Phishing kit triage" in html and "Mail server sweep" in html
    # Neighbours both ways, each a link to its own page.
    assert "/entities/view/?kind=ip&value=192.0.2.1" in links
    assert "/entities/view/?kind=domain&value=mx.example.org" in links
    assert "resolves to →" in html and "← handles mail for" in html
    assert '<svg class="graph-svg"' in html and "style=" not in html.split("<main", 1)[1]


def test_entities_of_another_organisation_are_not_found(client, user_factory, graph):
    from apps.users.services import organization_get_or_create

    outsider = user_factory(org=organization_get_or_create(name=f"Other {uuid.uuid4().hex[:6]}"))
    client.force_login(outsider)

    response = client.get("/entities/view/", {"kind": "domain", "value": "example.org"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "No entity domain:example.org" in response.content.decode()
    assert "example.org" not in client.get("/entities/suggest/", {"q": "exa"}).content.decode()
    assert (
        client.get("/graph/", {"kind": "domain", "value": "example.org"}).status_code == HTTPStatus.NOT_FOUND
    )


def test_missing_kind_is_a_clear_422(client, analyst, graph):
    client.force_login(analyst)
    response = client.get("/entities/view/", {"value": "example.org"})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "An entity needs a kind and a value." in response.content.decode()


def test_autocomplete_fragment_and_search_results(client, analyst, graph):
    client.force_login(analyst)

    fragment = client.get("/entities/suggest/", {"q": "ex"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert "/entities/view/?kind=domain&value=example.org" in _links(fragment)
    assert "mx.example.org" not in fragment  # "ex" is a prefix of the value, not a substring

    for_graph = client.get(
        "/entities/suggest/", {"value": "192.0", "kind": "ip", "for": "graph"}
    ).content.decode()
    assert _links(for_graph) == ["/graph/?kind=ip&value=192.0.2.1"]
    assert client.get("/entities/suggest/", {"q": "e"}).content.decode().strip() == ""  # one letter: nothing

    page = client.get("/entities/", {"q": "mx."}).content.decode()
    assert "1 entity starting with" in page
    assert "/entities/view/?kind=domain&value=mx.example.org" in _links(page)


def test_graph_page_draws_svg_with_links_and_a_relations_list(client, analyst, graph):
    client.force_login(analyst)
    response = client.get("/graph/", {"kind": "domain", "value": "example.org", "depth": 1})

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert html.count('class="node ') == 3
    assert html.count('class="edge"') == 2
    assert "/entities/view/?kind=ip&value=192.0.2.1" in _links(html)
    assert "vis-network" not in html and '<script src="/static/js/knowledge-graph.js' not in html
    assert "style=" not in html.split("<main", 1)[1]


def test_task_page_links_its_entities_to_their_pages(client, analyst, graph):
    client.force_login(analyst)
    first, _ = graph["tasks"]
    html = client.get(f"/tasks/{first.pk}/").content.decode()
    assert "/entities/view/?kind=ip&value=192.0.2.1" in _links(html)


def test_entity_pages_run_a_bounded_number_of_queries(client, analyst, graph, django_assert_max_num_queries):
    """Twenty more tasks naming the entity and related to twenty more neighbours: same count."""
    org = analyst.organization
    client.force_login(analyst)
    urls = [
        "/entities/view/?kind=domain&value=example.org",
        "/entities/?q=ex",
        "/entities/suggest/?q=ex",
        "/graph/?kind=domain&value=example.org&depth=2",
    ]
    before = {}
    for url in urls:
        with django_assert_max_num_queries(20, info=url) as captured:
            assert client.get(url).status_code == HTTPStatus.OK
        before[url] = len(captured)
    for i in range(20):
        task = make_task(org, user=analyst, title=f"Sweep {i}")
        result = make_result(task, agent="osint")
        _report(
            org.pk,
            task,
            result,
            SEEN,
            relations=[
                Relation(Entity("domain", "example.org"), "links_to", Entity("domain", f"ex{i}.example.net"))
            ],
        )
    for url in urls:
        with django_assert_max_num_queries(before[url], info=url):
            assert client.get(url).status_code == HTTPStatus.OK


def test_report_values_that_are_entities_link_to_their_pages(client, analyst):
    task = make_task(analyst.organization, user=analyst, title="DNS look-up")
    result = make_result(
        task,
        agent="osint",
        data={"resolved": {"address": "192.0.2.7"}, "hosts": [{"host": "www.example.org", "port": 443}]},
    )
    _report(
        analyst.organization_id,
        task,
        result,
        SEEN,
        relations=[Relation(Entity("domain", "www.example.org"), "resolves_to", Entity("ip", "192.0.2.7"))],
    )
    client.force_login(analyst)

    html = client.get(f"/tasks/{task.pk}/").content.decode()
    report = html.split(f'id="result-{result.pk}"', 1)[1].split("</article>", 1)[0]
    links = _links(report)
    assert "/entities/view/?kind=ip&value=192.0.2.7" in links  # a fact
    assert "/entities/view/?kind=domain&value=www.example.org" in links  # a table cell
