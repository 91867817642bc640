import os
import uuid

import pytest


@pytest.fixture(scope="session")
def bolt_server():
    """Connection settings of a Bolt server for the Neo4j backend: NEO4J_URL (+ NEO4J_USER,
    NEO4J_PASSWORD, NEO4J_DATABASE) when set, otherwise an ArcadeDB server with its Bolt plugin that
    this session starts on free ports (arcadedb-embedded, pinned in requirements-test.lock) and
    stops at its end."""
    if os.environ.get("NEO4J_URL"):
        yield {
            "url": os.environ["NEO4J_URL"],
            "user": os.environ.get("NEO4J_USER", "neo4j"),
            "password": os.environ.get("NEO4J_PASSWORD", ""),
            "database": os.environ.get("NEO4J_DATABASE") or None,
        }
        return
    from amas.testing import arcadedb

    if arcadedb.arcadedb_home() is None:
        pytest.skip("Neither NEO4J_URL nor arcadedb-embedded: no Bolt server for the Neo4j backend")
    server = arcadedb.ArcadeDBBoltServer()
    server.start()
    try:
        yield {
            "url": server.url,
            "user": arcadedb.USER,
            "password": arcadedb.PASSWORD,
            "database": arcadedb.DATABASE,
        }
    finally:
        server.stop()


@pytest.fixture(params=["postgres", "neo4j"])
def graph(request):
    """Each GraphStore backend in turn: Postgres always, Neo4j over Bolt against `bolt_server`
    (modules using it mark themselves django_db).

    The Neo4j run deletes every AMAS node at the server before each test: when NEO4J_URL is set,
    point it at a throwaway database (see README, "Knowledge graph on Neo4j")."""
    if request.param == "postgres":
        from apps.knowledge.graph import graph_store

        return graph_store("postgres")
    from apps.knowledge.graph.neo4j import Neo4jGraphStore

    bolt = request.getfixturevalue("bolt_server")
    store = Neo4jGraphStore(bolt["url"], bolt["user"], bolt["password"], bolt["database"])
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
