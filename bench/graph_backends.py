"""The knowledge graph's two backends on the same workload in one run: Postgres (the default, the
baseline) and the Neo4j backend over Bolt against ArcadeDB (arcadedb-embedded, the server the test
session uses). Writes `--results` result batches of `--relations` relations each, then times
neighbourhood (depth 2) and entity-search reads.

    venv/bin/python bench/graph_backends.py [--results 100] [--relations 10] [--reads 100]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import UTC, datetime

from _stack import BenchStack, percentile


def batches(org: int, results: int, relations: int, seed: int = 7) -> list:
    from apps.agents.base import Entity, Relation
    from apps.knowledge.graph import GraphBatch, Provenance

    rng = random.Random(seed)
    domains = [f"host{i}.example" for i in range(results * 2)]
    out = []
    for _ in range(results):
        rels = [
            Relation(
                Entity("domain", rng.choice(domains)),
                "resolves_to",
                Entity("ip", f"192.0.2.{rng.randrange(250)}"),
                {},
            )
            for _ in range(relations)
        ]
        provenance = Provenance(
            organization_id=org,
            task_id=str(uuid.uuid4()),
            result_id=str(uuid.uuid4()),
            agent="bench",
            model="",
        )
        out.append(GraphBatch(provenance=provenance, seen_at=datetime.now(UTC), entities=[], relations=rels))
    return out


def run(store, org: int, work: list, reads: int) -> tuple[float, list[float], list[float]]:
    from apps.knowledge.graph import EntityKey

    started = time.perf_counter()
    for batch in work:
        store.upsert(batch)
    write_s = time.perf_counter() - started
    keys = [r.source for b in work for r in b.relations][:reads]
    neighbourhood, search = [], []
    for relation in keys:
        t = time.perf_counter()
        store.neighbourhood(EntityKey.of(relation.kind, relation.value), organization_id=org, depth=2)
        neighbourhood.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        store.search(relation.value[:5], organization_id=org, limit=20)
        search.append((time.perf_counter() - t) * 1000)
    return write_s, neighbourhood, search


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--relations", type=int, default=10)
    parser.add_argument("--reads", type=int, default=100)
    args = parser.parse_args()
    stack = BenchStack()
    from amas.testing.arcadedb import DATABASE, PASSWORD, USER, ArcadeDBBoltServer

    server = ArcadeDBBoltServer()
    try:
        stack.start()
        started = time.perf_counter()
        server.start()
        boot_s = time.perf_counter() - started
        from apps.knowledge.graph import graph_store
        from apps.knowledge.graph.neo4j import Neo4jGraphStore

        bolt = Neo4jGraphStore(server.url, USER, PASSWORD, DATABASE)
        bolt.setup()
        stores = [("postgres (baseline)", graph_store("postgres")), ("neo4j backend on ArcadeDB", bolt)]
        print(f"ArcadeDB up and answering Cypher over Bolt after {boot_s:.1f} s")
        print(f"{args.results} results x {args.relations} relations; {args.reads} reads of each kind")
        print(
            f"{'backend':28} {'write s':>8} {'nbhd p50 ms':>12} {'nbhd p99':>9} {'search p50':>11} {'search p99':>11}"
        )
        for org, (label, store) in enumerate(stores, start=1):
            work = batches(org, args.results, args.relations)
            write_s, nbhd, search = run(store, org, work, args.reads)
            print(
                f"{label:28} {write_s:8.2f} {statistics.median(nbhd):12.1f} {percentile(nbhd, 99):9.1f} "
                f"{statistics.median(search):11.1f} {percentile(search, 99):11.1f}"
            )
        bolt.close()
    finally:
        server.stop()
        stack.stop()


if __name__ == "__main__":
    main()
