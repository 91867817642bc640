"""The graph's JSON endpoints and page: scoped to the user's organisation."""

import uuid
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from apps.agents.base import Entity, Relation
from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_task
from tests.users.factories import enable_totp

pytestmark = pytest.mark.django_db


def emit(task, *relations, entities=()):
    get_graph_store().upsert(
        GraphBatch(
            provenance=Provenance(task.organization_id, str(task.pk), str(uuid.uuid4()), "osint"),
            seen_at=datetime(2026, 3, 1, tzinfo=UTC),
            entities=list(entities),
            relations=list(relations),
        )
    )


def rel(a, typ, b):
    return Relation(Entity(*a), typ, Entity(*b))


@pytest.fixture
def outsider(user_factory):
    return user_factory(org=organization_get_or_create(name="Outsiders"))


@pytest.fixture
def graph_data(analyst, outsider):
    mine = make_task(analyst.organization, created_by=analyst)
    theirs = make_task(outsider.organization, created_by=outsider)
    emit(mine, rel(("domain", "example.org"), "resolves_to", ("ip", "192.0.2.1")))
    emit(mine, rel(("ip", "192.0.2.1"), "hosted_by", ("organization", "ACME Hosting")))
    emit(theirs, rel(("domain", "example.org"), "resolves_to", ("ip", "203.0.113.9")))
    return mine, theirs


def test_neighbourhood_json(client, analyst, outsider, graph_data):
    client.force_login(analyst)
    url = "/api/v1/graph/neighbourhood"

    one = client.get(url, {"kind": "domain", "value": "Example.org", "depth": 1}).json()
    two = client.get(url, {"kind": "domain", "value": "example.org", "depth": 2}).json()

    assert {n["id"] for n in one["nodes"]} == {"domain:example.org", "ip:192.0.2.1"}
    assert {n["id"] for n in two["nodes"]} == {
        "domain:example.org",
        "ip:192.0.2.1",
        "organization:acme hosting",
    }
    edge = next(e for e in one["edges"] if e["type"] == "resolves_to")
    assert edge["provenance"][0]["task_id"] == str(graph_data[0].pk)
    assert client.get(url, {"kind": "domain", "value": "example.org", "depth": 9}).status_code == 422
    assert client.get(url, {"kind": "domain", "value": "nowhere.example"}).status_code == HTTPStatus.NOT_FOUND

    client.force_login(outsider)
    theirs = client.get(url, {"kind": "domain", "value": "example.org"}).json()
    assert {n["id"] for n in theirs["nodes"]} == {"domain:example.org", "ip:203.0.113.9"}
    assert client.get(url, {"kind": "ip", "value": "192.0.2.1"}).status_code == HTTPStatus.NOT_FOUND

    client.logout()
    assert client.get(url, {"kind": "domain", "value": "example.org"}).status_code == HTTPStatus.UNAUTHORIZED


def test_path_entities_and_task_entities(client, analyst, outsider, graph_data):
    mine, theirs = graph_data
    client.force_login(analyst)

    path = client.get(
        "/api/v1/graph/path",
        {
            "source_kind": "domain",
            "source_value": "example.org",
            "target_kind": "organization",
            "target_value": "acme hosting",
        },
    ).json()
    assert [n["id"] for n in path["nodes"]] == [
        "domain:example.org",
        "ip:192.0.2.1",
        "organization:acme hosting",
    ]

    found = client.get("/api/v1/graph/entities", {"prefix": "192.0"}).json()
    assert [e["id"] for e in found] == ["ip:192.0.2.1"]
    entities = client.get(f"/api/v1/tasks/{mine.pk}/entities").json()
    assert {e["id"] for e in entities} == {"domain:example.org", "ip:192.0.2.1", "organization:acme hosting"}
    assert client.get(f"/api/v1/tasks/{theirs.pk}/entities").status_code == HTTPStatus.NOT_FOUND


def test_merge_is_for_superusers(client, analyst, user_factory, graph_data):
    emit(graph_data[0], entities=[Entity("organization", "ACME Hosting Inc")])
    body = {
        "keep": {"kind": "organization", "value": "ACME Hosting"},
        "duplicate": {"kind": "organization", "value": "ACME Hosting Inc"},
    }
    admin = user_factory(role="admin")
    enable_totp(admin)  # admins must use MFA
    client.force_login(admin)
    assert client.post("/api/v1/graph/merge", body, content_type="application/json").status_code == 403

    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    response = client.post("/api/v1/graph/merge", body, content_type="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"merged_into": "organization:acme hosting"}
    client.force_login(analyst)
    assert client.get("/api/v1/graph/entities", {"prefix": "acme hosting inc"}).json() == []


def test_graph_page_is_drawn_on_the_server(client, analyst, graph_data):
    client.force_login(analyst)
    response = client.get("/graph/", {"kind": "domain", "value": "example.org"})
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert '<svg class="graph-svg"' in html  # no graph library: apps/dashboard/graph_layout.py
    assert "<script" not in html.split("<main", 1)[1]
    assert "cdn" not in html.lower()
