"""`manage.py graph_copy` moves the graph between backends; a JSON-lines file stands in for the
second backend here (tests/knowledge/test_graph_contract.py covers Neo4j when NEO4J_URL is set)."""

import os
import uuid
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.agents.base import Entity, Relation
from apps.knowledge.graph import EntityKey, GraphBatch, Provenance, graph_store

pytestmark = pytest.mark.django_db


def test_copy_out_and_back_gives_the_same_graph(tmp_path):
    store = graph_store("postgres")
    org = 4242
    task = str(uuid.uuid4())
    store.upsert(
        GraphBatch(
            provenance=Provenance(org, task, str(uuid.uuid4()), "osint", "gpt-x"),
            seen_at=datetime(2026, 2, 1, tzinfo=UTC),
            entities=[Entity("ip", "192.0.2.1", {"asn": 64500})],
            relations=[Relation(Entity("domain", "a.example"), "resolves_to", Entity("ip", "192.0.2.1"))],
        )
    )
    before = store.neighbourhood(EntityKey.of("ip", "192.0.2.1"), organization_id=org).as_dict()
    path = tmp_path / "graph.jsonl"

    out = StringIO()
    call_command("graph_copy", "--from", "postgres", "--to", f"jsonl:{path}", stdout=out)
    assert "Copied 3 provenance records" in out.getvalue()
    store.clear()
    call_command("graph_copy", "--from", f"jsonl:{path}", "--to", "postgres", "--replace", stdout=out)
    call_command("graph_copy", "--from", f"jsonl:{path}", "--to", "postgres", stdout=out)  # idempotent

    assert store.neighbourhood(EntityKey.of("ip", "192.0.2.1"), organization_id=org).as_dict() == before


def test_copy_to_neo4j_needs_its_url():
    if os.environ.get("NEO4J_URL"):
        pytest.skip("NEO4J_URL is set")
    with pytest.raises(CommandError, match="NEO4J_URL"):
        call_command("graph_copy", "--from", "postgres", "--to", "neo4j")
