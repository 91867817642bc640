import os
import uuid

import pytest


@pytest.fixture(params=["postgres", "neo4j"])
def graph(request):
    """Each GraphStore backend in turn: Postgres always, Neo4j when NEO4J_URL is set (modules
    using it mark themselves django_db).

    The Neo4j run deletes every AMAS node at NEO4J_URL before each test: point it at a throwaway
    database (see README, "Knowledge graph on Neo4j")."""
    if request.param == "postgres":
        from apps.knowledge.graph import graph_store

        return graph_store("postgres")
    if not os.environ.get("NEO4J_URL"):
        pytest.skip("NEO4J_URL is not set: the Neo4j contract run needs a Neo4j server")
    from apps.knowledge.graph.neo4j import Neo4jGraphStore

    store = Neo4jGraphStore(
        os.environ["NEO4J_URL"],
        os.environ.get("NEO4J_USER", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", ""),
        os.environ.get("NEO4J_DATABASE") or None,
    )
    store.setup()
    store.clear()
    request.addfinalizer(store.close)
    return store


@pytest.fixture
def org_id() -> int:
    return uuid.uuid4().int % 10**9


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server in its own process on a free port, for the whole session."""
    from amas.testing.s3 import MotoS3Server

    server = MotoS3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def builtin_provider(transactional_db):
    """The built-in offline provider row, as migration providers/0002 creates it: transactional
    tests flush the tables between tests, taking data-migration rows with them."""
    from apps.providers.models import Provider

    provider, _ = Provider.objects.get_or_create(
        name="Built-in (offline)",
        defaults={
            "kind": "builtin",
            "model": "builtin-extractive",
            "embedding_model": "builtin-hash-384",
            "priority": 10000,
            "enabled": True,
            "allowed_classifications": ["clear", "green", "amber", "red"],
            "tags": ["builtin", "local", "offline"],
            "timeout": 10.0,
            "max_retries": 0,
        },
    )
    return provider
