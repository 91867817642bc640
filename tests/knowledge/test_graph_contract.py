"""The GraphStore contract, run against every backend (the `graph` fixture): Postgres always,
Neo4j when NEO4J_URL is set."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps.agents.base import Entity, Relation
from apps.knowledge.graph import EntityKey, GraphBatch, GraphError, Provenance

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def batch(org, *, relations=(), entities=(), task=None, result=None, agent="osint", at=T0, model=""):
    return GraphBatch(
        provenance=Provenance(
            organization_id=org,
            task_id=task or str(uuid.uuid4()),
            result_id=result or str(uuid.uuid4()),
            agent=agent,
            model=model,
        ),
        seen_at=at,
        entities=list(entities),
        relations=list(relations),
    )


def rel(src, typ, dst, **attrs):
    return Relation(Entity(*src), typ, Entity(*dst), attrs)


def chain(*values, kind="domain", typ="links_to"):
    return [rel((kind, a), typ, (kind, b)) for a, b in zip(values, values[1:], strict=False)]


def keys(subgraph):
    return {(n.kind, n.normalized) for n in subgraph.nodes}


def test_upsert_creates_entities_relations_and_provenance(graph, org_id):
    task, result = str(uuid.uuid4()), str(uuid.uuid4())
    graph.upsert(
        batch(
            org_id,
            task=task,
            result=result,
            entities=[Entity("domain", "Example.ORG.", {"registrar": "ACME"})],
            relations=[rel(("domain", "example.org"), "resolves_to", ("ip", "192.0.2.10"))],
        )
    )

    entity = graph.get(EntityKey.of("domain", "EXAMPLE.org"), organization_id=org_id)
    assert entity.value == "Example.ORG."
    assert entity.normalized == "example.org"
    assert entity.attributes == {"registrar": "ACME"}
    assert entity.count == 1  # one result named it (as an entity and as the relation's source)
    sub = graph.neighbourhood(EntityKey.of("domain", "example.org"), organization_id=org_id, depth=1)
    assert keys(sub) == {("domain", "example.org"), ("ip", "192.0.2.10")}
    [edge] = sub.edges
    assert (edge.source, edge.type, edge.target) == (
        EntityKey("domain", "example.org"),
        "resolves_to",
        EntityKey("ip", "192.0.2.10"),
    )
    [prov] = edge.provenance
    assert (prov.task_id, prov.result_id, prov.agent, prov.count) == (task, result, "osint", 1)
    assert prov.first_seen == prov.last_seen == T0


def test_upserting_the_same_batch_again_changes_only_last_seen(graph, org_id):
    task, result = str(uuid.uuid4()), str(uuid.uuid4())
    relations = [rel(("domain", "a.example"), "links_to", ("domain", "b.example"))]
    graph.upsert(batch(org_id, task=task, result=result, relations=relations))
    later = T0 + timedelta(hours=3)
    graph.upsert(batch(org_id, task=task, result=result, relations=relations, at=later))

    [edge] = graph.neighbourhood(EntityKey.of("domain", "a.example"), organization_id=org_id).edges
    assert edge.count == 1
    assert (edge.first_seen, edge.last_seen) == (T0, later)
    assert graph.get(EntityKey.of("domain", "b.example"), organization_id=org_id).count == 1


def test_counts_add_up_across_results_and_repeats(graph, org_id):
    relation = rel(("domain", "a.example"), "links_to", ("domain", "b.example"))
    graph.upsert(batch(org_id, relations=[relation, relation]))  # reported twice by one result
    graph.upsert(batch(org_id, relations=[relation], at=T0 + timedelta(days=1)))

    [edge] = graph.neighbourhood(EntityKey.of("domain", "a.example"), organization_id=org_id).edges
    assert edge.count == 3
    assert len(edge.provenance) == 2
    assert edge.last_seen == T0 + timedelta(days=1)


def test_llm_model_is_kept_as_provenance_not_attribute(graph, org_id):
    graph.upsert(
        batch(
            org_id,
            agent="analysis",
            relations=[
                rel(("person", "Ada"), "works_for", ("organization", "ACME"), model="gpt-x", role="cto")
            ],
        )
    )
    [edge] = graph.neighbourhood(EntityKey.of("person", "ada"), organization_id=org_id).edges
    assert edge.attributes == {"role": "cto"}
    assert edge.provenance[0].model == "gpt-x"
    assert edge.provenance[0].agent == "analysis"


def test_organisations_see_only_their_own_provenance(graph, org_id):
    other = org_id + 1
    graph.upsert(
        batch(org_id, relations=[rel(("domain", "shared.example"), "resolves_to", ("ip", "192.0.2.1"))])
    )
    graph.upsert(
        batch(other, relations=[rel(("domain", "shared.example"), "resolves_to", ("ip", "198.51.100.7"))])
    )

    mine = graph.neighbourhood(EntityKey.of("domain", "shared.example"), organization_id=org_id)
    theirs = graph.neighbourhood(EntityKey.of("domain", "shared.example"), organization_id=other)
    assert keys(mine) == {("domain", "shared.example"), ("ip", "192.0.2.1")}
    assert keys(theirs) == {("domain", "shared.example"), ("ip", "198.51.100.7")}
    assert graph.get(EntityKey.of("ip", "198.51.100.7"), organization_id=org_id) is None
    assert graph.search("198.51", organization_id=org_id) == []
    with pytest.raises(GraphError):
        graph.neighbourhood(EntityKey.of("ip", "198.51.100.7"), organization_id=org_id)


def test_neighbourhood_depth_and_limits(graph, org_id):
    graph.upsert(batch(org_id, relations=chain("n0.example", "n1.example", "n2.example", "n3.example")))
    centre = EntityKey.of("domain", "n0.example")

    assert keys(graph.neighbourhood(centre, organization_id=org_id, depth=0)) == {("domain", "n0.example")}
    one = graph.neighbourhood(centre, organization_id=org_id, depth=1)
    assert {n.normalized: n.depth for n in one.nodes} == {"n0.example": 0, "n1.example": 1}
    two = graph.neighbourhood(centre, organization_id=org_id, depth=2)
    assert {n.normalized: n.depth for n in two.nodes} == {"n0.example": 0, "n1.example": 1, "n2.example": 2}
    assert len(two.edges) == 2
    assert not two.truncated

    # A hub: the node limit keeps the nearest nodes and says it cut.
    graph.upsert(
        batch(
            org_id,
            relations=[rel(("domain", "hub.example"), "links_to", ("ip", f"10.0.0.{i}")) for i in range(8)],
        )
    )
    hub = graph.neighbourhood(EntityKey.of("domain", "hub.example"), organization_id=org_id, max_nodes=5)
    assert len(hub.nodes) == 5
    assert hub.nodes[0].normalized == "hub.example"
    assert hub.truncated
    edges_cut = graph.neighbourhood(
        EntityKey.of("domain", "hub.example"), organization_id=org_id, max_edges=3
    )
    assert len(edges_cut.edges) == 3
    assert edges_cut.truncated


def test_shortest_path(graph, org_id):
    graph.upsert(batch(org_id, relations=chain("p0.example", "p1.example", "p2.example", "p3.example")))
    graph.upsert(
        batch(org_id, relations=[rel(("domain", "p3.example"), "links_to", ("domain", "p0.example"))])
    )
    graph.upsert(
        batch(org_id, relations=[rel(("domain", "island.example"), "links_to", ("domain", "isle.example"))])
    )

    path = graph.shortest_path(
        EntityKey.of("domain", "p0.example"), EntityKey.of("domain", "p2.example"), organization_id=org_id
    )
    assert len(path.edges) == 2  # either way round the 4-cycle
    assert path.nodes[0].normalized == "p0.example"
    assert path.nodes[-1].normalized == "p2.example"
    direct = graph.shortest_path(
        EntityKey.of("domain", "p0.example"), EntityKey.of("domain", "p3.example"), organization_id=org_id
    )
    assert [n.normalized for n in direct.nodes] == ["p0.example", "p3.example"]
    assert direct.edges[0].type == "links_to"
    assert (
        graph.shortest_path(
            EntityKey.of("domain", "p0.example"),
            EntityKey.of("domain", "island.example"),
            organization_id=org_id,
        )
        is None
    )
    assert (
        graph.shortest_path(
            EntityKey.of("domain", "p0.example"),
            EntityKey.of("domain", "p2.example"),
            organization_id=org_id,
            max_depth=1,
        )
        is None
    )


def test_paths_do_not_cross_other_organisations_edges(graph, org_id):
    graph.upsert(batch(org_id, relations=chain("x0.example", "x1.example")))
    graph.upsert(batch(org_id, entities=[Entity("domain", "x2.example")]))
    graph.upsert(batch(org_id + 1, relations=chain("x1.example", "x2.example")))

    assert (
        graph.shortest_path(
            EntityKey.of("domain", "x0.example"), EntityKey.of("domain", "x2.example"), organization_id=org_id
        )
        is None
    )


def test_entities_of_a_task(graph, org_id):
    task = str(uuid.uuid4())
    graph.upsert(
        batch(org_id, task=task, entities=[Entity("email", "Ops@Example.org"), Entity("cve", "cve-2024-1")])
    )
    graph.upsert(
        batch(
            org_id, task=task, relations=[rel(("domain", "example.org"), "mx", ("domain", "mx.example.org"))]
        )
    )
    graph.upsert(batch(org_id, entities=[Entity("domain", "elsewhere.example")]))

    found = graph.task_entities(task, organization_id=org_id)
    assert [(e.kind, e.normalized) for e in found] == [
        ("cve", "CVE-2024-1"),
        ("domain", "example.org"),
        ("domain", "mx.example.org"),
        ("email", "ops@example.org"),
    ]
    assert graph.task_entities(task, organization_id=org_id + 1) == []


def test_prefix_search(graph, org_id):
    graph.upsert(
        batch(
            org_id,
            entities=[
                Entity("domain", "mail.example.org"),
                Entity("domain", "mail.example"),
                Entity("email", "mail@example.org"),
                Entity("domain", "web.example.org"),
            ],
        )
    )
    assert [e.normalized for e in graph.search("MAIL.", organization_id=org_id)] == [
        "mail.example",
        "mail.example.org",
    ]
    assert [e.kind for e in graph.search("mail", organization_id=org_id, kind="email")] == ["email"]
    assert len(graph.search("mail", organization_id=org_id, limit=2)) == 2


def test_merge_duplicates(graph, org_id):
    task = str(uuid.uuid4())
    graph.upsert(
        batch(
            org_id,
            task=task,
            relations=[rel(("person", "John Smith"), "works_for", ("organization", "ACME"))],
        )
    )
    graph.upsert(
        batch(
            org_id,
            task=task,
            relations=[
                rel(("person", "J. Smith"), "works_for", ("organization", "ACME")),
                rel(("person", "J. Smith"), "uses", ("email", "js@example.org")),
                rel(("person", "J. Smith"), "same_as", ("person", "John Smith")),
            ],
        )
    )
    keep, dup = EntityKey.of("person", "John Smith"), EntityKey.of("person", "J. Smith")

    graph.merge(keep, dup)

    assert graph.get(dup, organization_id=org_id) is None
    merged = graph.get(keep, organization_id=org_id)
    assert merged.value == "John Smith"
    assert "J. Smith" in merged.attributes["aliases"]
    sub = graph.neighbourhood(keep, organization_id=org_id)
    assert keys(sub) == {("person", "john smith"), ("organization", "acme"), ("email", "js@example.org")}
    by_type = {e.type: e for e in sub.edges}
    assert set(by_type) == {"works_for", "uses"}  # the same_as loop between the two names is gone
    assert by_type["works_for"].count == 2
    assert len(by_type["works_for"].provenance) == 2
    with pytest.raises(GraphError):
        graph.merge(keep, dup)


def test_dump_and_load_round_trip(graph, org_id):
    task = str(uuid.uuid4())
    graph.upsert(batch(org_id, task=task, relations=chain("r0.example", "r1.example", "r2.example")))
    graph.upsert(batch(org_id, entities=[Entity("ip", "192.0.2.5", {"asn": 64500})]))
    before = graph.neighbourhood(EntityKey.of("domain", "r1.example"), organization_id=org_id).as_dict()
    dumped = list(graph.dump(batch_size=2))

    graph.clear()
    assert graph.get(EntityKey.of("domain", "r1.example"), organization_id=org_id) is None
    graph.load(dumped)
    graph.load(dumped)  # idempotent

    after = graph.neighbourhood(EntityKey.of("domain", "r1.example"), organization_id=org_id).as_dict()
    assert after == before
    assert graph.get(EntityKey.of("ip", "192.0.2.5"), organization_id=org_id).attributes == {"asn": 64500}
    assert [e.normalized for e in graph.task_entities(task, organization_id=org_id)] == [
        "r0.example",
        "r1.example",
        "r2.example",
    ]
