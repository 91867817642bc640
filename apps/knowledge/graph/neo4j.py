"""GraphStore on Neo4j (official `neo4j` driver), used when NEO4J_URL is set.

Layout: (:Entity {key, kind, normalized, value}) nodes joined by one [:RELATED {type, orgs}]
relationship per (source, type, target); provenance lives in (:Mention)-[:OF]->(:Entity) and
(:Evidence {rel_key, ...}) nodes, one per (entity or relation, task, result), so that the same
records round-trip with the Postgres backend. `orgs` on a relationship lists the organisations
that have evidence for it, which keeps traversals scoped without touching Evidence nodes.

Every statement is a constant string with parameters; writes go in batches through UNWIND inside
one transaction. Constraints are created by setup(), which get_graph_store() runs once per process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from apps.knowledge.graph.port import (
    MAX_DEPTH,
    EntityKey,
    EntityOut,
    EvidenceRecord,
    GraphError,
    GraphStore,
    MentionRecord,
    Provenance,
    ProvenanceOut,
    RelationOut,
    Subgraph,
    UnknownEntity,
    fold,
    merge_attributes,
    relations_from_evidence,
)

SEP = "\u001f"

SETUP = [
    "CREATE CONSTRAINT amas_entity_key IF NOT EXISTS FOR (e:Entity) REQUIRE e.key IS UNIQUE",
    "CREATE CONSTRAINT amas_mention_key IF NOT EXISTS FOR (m:Mention) REQUIRE m.key IS UNIQUE",
    "CREATE CONSTRAINT amas_evidence_key IF NOT EXISTS FOR (v:Evidence) REQUIRE v.key IS UNIQUE",
    "CREATE INDEX amas_entity_normalized IF NOT EXISTS FOR (e:Entity) ON (e.normalized)",
    "CREATE INDEX amas_mention_task IF NOT EXISTS FOR (m:Mention) ON (m.task_id)",
    "CREATE INDEX amas_mention_entity IF NOT EXISTS FOR (m:Mention) ON (m.entity_key)",
    "CREATE INDEX amas_evidence_rel IF NOT EXISTS FOR (v:Evidence) ON (v.rel_key)",
    "CREATE INDEX amas_evidence_source IF NOT EXISTS FOR (v:Evidence) ON (v.source_key)",
    "CREATE INDEX amas_evidence_target IF NOT EXISTS FOR (v:Evidence) ON (v.target_key)",
]

MERGE_ENTITIES = """
UNWIND $rows AS row
MERGE (e:Entity {key: row.key})
ON CREATE SET e.kind = row.kind, e.normalized = row.normalized, e.value = row.value
"""

READ_MENTION_ATTRIBUTES = """
UNWIND $keys AS k
MATCH (m:Mention {key: k})
RETURN m.key AS key, m.attributes AS attributes
"""

MERGE_MENTIONS = """
UNWIND $rows AS row
MATCH (e:Entity {key: row.entity_key})
MERGE (m:Mention {key: row.key})
ON CREATE SET m.entity_key = row.entity_key, m.task_id = row.task_id, m.result_id = row.result_id,
              m.first_seen = row.first_seen, m.last_seen = row.last_seen, m.count = 0
SET m.organization_id = row.organization_id,
    m.agent = row.agent,
    m.model = CASE WHEN row.model <> '' THEN row.model ELSE coalesce(m.model, '') END,
    m.attributes = row.attributes,
    m.first_seen = CASE WHEN row.first_seen < m.first_seen THEN row.first_seen ELSE m.first_seen END,
    m.last_seen = CASE WHEN row.last_seen > m.last_seen THEN row.last_seen ELSE m.last_seen END,
    m.count = CASE WHEN $additive THEN m.count + row.count ELSE row.count END
MERGE (m)-[:OF]->(e)
"""

READ_EVIDENCE_ATTRIBUTES = """
UNWIND $keys AS k
MATCH (v:Evidence {key: k})
RETURN v.key AS key, v.attributes AS attributes
"""

MERGE_EVIDENCE = """
UNWIND $rows AS row
MATCH (s:Entity {key: row.source_key})
MATCH (t:Entity {key: row.target_key})
MERGE (s)-[r:RELATED {type: row.type}]->(t)
SET r.orgs = CASE WHEN row.organization_id IN coalesce(r.orgs, []) THEN r.orgs
                  ELSE coalesce(r.orgs, []) + row.organization_id END
MERGE (v:Evidence {key: row.key})
ON CREATE SET v.rel_key = row.rel_key, v.source_key = row.source_key, v.target_key = row.target_key,
              v.type = row.type, v.task_id = row.task_id, v.result_id = row.result_id,
              v.first_seen = row.first_seen, v.last_seen = row.last_seen, v.count = 0
SET v.organization_id = row.organization_id,
    v.agent = row.agent,
    v.model = CASE WHEN row.model <> '' THEN row.model ELSE coalesce(v.model, '') END,
    v.attributes = row.attributes,
    v.first_seen = CASE WHEN row.first_seen < v.first_seen THEN row.first_seen ELSE v.first_seen END,
    v.last_seen = CASE WHEN row.last_seen > v.last_seen THEN row.last_seen ELSE v.last_seen END,
    v.count = CASE WHEN $additive THEN v.count + row.count ELSE row.count END
"""

ENTITIES = """
UNWIND $keys AS k
MATCH (m:Mention {entity_key: k})-[:OF]->(e:Entity)
WHERE m.organization_id = $org
WITH e, m ORDER BY m.last_seen, m.key
RETURN e.key AS key, e.kind AS kind, e.value AS value, e.normalized AS normalized,
       collect(m.attributes) AS attributes, min(m.first_seen) AS first_seen,
       max(m.last_seen) AS last_seen, sum(m.count) AS count
"""

NEIGHBOURS = """
UNWIND $keys AS k
MATCH (a:Entity {key: k})-[r:RELATED]-(b:Entity)
WHERE $org IN r.orgs AND NOT b.key IN $seen
RETURN DISTINCT b.key AS key, b.kind AS kind, b.normalized AS normalized
ORDER BY kind, normalized
LIMIT $limit
"""

EDGES_BETWEEN = """
MATCH (a:Entity)-[r:RELATED]->(b:Entity)
WHERE a.key IN $keys AND b.key IN $keys AND $org IN r.orgs
RETURN a.key + $sep + r.type + $sep + b.key AS rel_key
"""

EVIDENCE_OF = """
UNWIND $rel_keys AS rk
MATCH (v:Evidence {rel_key: rk})
WHERE v.organization_id = $org
MATCH (s:Entity {key: v.source_key}), (t:Entity {key: v.target_key})
RETURN v.rel_key AS rel_key, s.kind AS sk, s.normalized AS sn, v.type AS type, t.kind AS tk,
       t.normalized AS tn, v.task_id AS task_id, v.result_id AS result_id, v.agent AS agent,
       v.model AS model, v.attributes AS attributes, v.first_seen AS first_seen,
       v.last_seen AS last_seen, v.count AS count
ORDER BY v.last_seen, v.key
"""

SHORTEST_PATH = """
MATCH (a:Entity {key: $source}), (b:Entity {key: $target})
MATCH p = shortestPath((a)-[:RELATED*]-(b))
WHERE all(r IN relationships(p) WHERE $org IN r.orgs)
RETURN [n IN nodes(p) | n.key] AS nodes,
       [r IN relationships(p) | startNode(r).key + $sep + r.type + $sep + endNode(r).key] AS rels
"""

TASK_ENTITY_KEYS = """
MATCH (m:Mention {task_id: $task})
WHERE m.organization_id = $org
RETURN DISTINCT m.entity_key AS key
"""

SEARCH = """
MATCH (e:Entity)
WHERE e.normalized STARTS WITH $prefix AND ($kind IS NULL OR e.kind = $kind)
  AND EXISTS { MATCH (m:Mention)-[:OF]->(e) WHERE m.organization_id = $org }
RETURN e.key AS key
ORDER BY size(e.normalized), e.normalized, e.kind
LIMIT $limit
"""

MENTIONS_OF = """
MATCH (m:Mention {entity_key: $key})-[:OF]->(e:Entity)
RETURN e.kind AS kind, e.value AS value, m AS m
"""

EVIDENCE_TOUCHING = """
MATCH (v:Evidence)
WHERE v.source_key = $key OR v.target_key = $key
MATCH (s:Entity {key: v.source_key}), (t:Entity {key: v.target_key})
RETURN s.kind AS sk, s.value AS sv, t.kind AS tk, t.value AS tv, v AS v
"""

DELETE_ENTITY = """
MATCH (e:Entity {key: $key})
OPTIONAL MATCH (m:Mention)-[:OF]->(e)
DETACH DELETE m, e
"""

DELETE_EVIDENCE = """
MATCH (v:Evidence) WHERE v.source_key = $key OR v.target_key = $key
DELETE v
"""

DUMP_MENTIONS = """
MATCH (m:Mention)-[:OF]->(e:Entity)
WHERE m.key > $after
RETURN e.kind AS kind, e.value AS value, m AS m
ORDER BY m.key LIMIT $limit
"""

DUMP_EVIDENCE = """
MATCH (v:Evidence)
WHERE v.key > $after
MATCH (s:Entity {key: v.source_key}), (t:Entity {key: v.target_key})
RETURN s.kind AS sk, s.value AS sv, t.kind AS tk, t.value AS tv, v AS v
ORDER BY v.key LIMIT $limit
"""

CLEAR_SOME = """
MATCH (n) WHERE n:Entity OR n:Mention OR n:Evidence
WITH n LIMIT 10000
DETACH DELETE n
RETURN count(*) AS deleted
"""


def entity_key(key: EntityKey) -> str:
    return f"{key.kind}{SEP}{key.normalized}"


def _from_entity_key(value: str) -> EntityKey:
    kind, normalized = value.split(SEP, 1)
    return EntityKey(kind, normalized)


def _native(value: Any) -> datetime:
    native = value.to_native() if hasattr(value, "to_native") else value
    # Neo4j keeps the zone of a stored DateTime. ArcadeDB (Bolt) stores the instant and returns it
    # as a zone-less DateTime in UTC: read that as UTC so both servers give the same aware value.
    if isinstance(native, datetime) and native.tzinfo is None:
        native = native.replace(tzinfo=UTC)
    return native


class Neo4jGraphStore(GraphStore):
    type = "neo4j"
    name = "neo4j"
    transactional = False

    @classmethod
    def from_settings(cls) -> Neo4jGraphStore:
        if not settings.NEO4J_URL:
            raise GraphError("The neo4j graph backend needs NEO4J_URL.")
        database = getattr(settings, "NEO4J_DATABASE", "") or None
        return cls(settings.NEO4J_URL, settings.NEO4J_USER, settings.NEO4J_PASSWORD, database)

    def __init__(
        self, url: str, user: str = "neo4j", password: str = "", database: str | None = None
    ) -> None:
        from neo4j import GraphDatabase

        self.driver = GraphDatabase.driver(url, auth=(user, password) if password else None)
        self.database = database or None

    def close(self) -> None:
        self.driver.close()

    def _read(self, query: str, **params: Any) -> list[Any]:
        # The driver (and the numpy it imports, ~40 MiB) loads only when this backend is used, not
        # in every process that registers it at start-up.
        from neo4j import RoutingControl

        records, _, _ = self.driver.execute_query(
            query, params, database_=self.database, routing_=RoutingControl.READ
        )
        return records

    def _write(self, query: str, **params: Any) -> None:
        self.driver.execute_query(query, params, database_=self.database)

    def _write_returning(self, query: str, **params: Any) -> list[Any]:
        records, _, _ = self.driver.execute_query(query, params, database_=self.database)
        return records

    def setup(self) -> None:
        for statement in SETUP:
            self._write(statement)

    def clear(self) -> None:
        """Delete every AMAS node (tests and `graph_copy --replace`)."""
        while self._write_returning(CLEAR_SOME)[0]["deleted"]:
            pass

    # ------------------------------------------------------------------ writes

    def write(self, mentions: list[MentionRecord], evidence: list[EvidenceRecord], *, additive: bool) -> None:
        mentions, evidence = fold(mentions, evidence)
        entities: dict[str, dict[str, str]] = {}
        for m in mentions:
            entities.setdefault(
                entity_key(m.key), {"kind": m.key.kind, "normalized": m.key.normalized, "value": m.value}
            )
        for e in evidence:
            for key, value in ((e.source, e.source_value), (e.target, e.target_value)):
                entities.setdefault(
                    entity_key(key), {"kind": key.kind, "normalized": key.normalized, "value": value}
                )
        if not entities:
            return
        entity_rows = [{"key": k, **v} for k, v in sorted(entities.items())]
        mention_rows = sorted((self._mention_row(m) for m in mentions), key=lambda r: r["key"])
        evidence_rows = sorted((self._evidence_row(e) for e in evidence), key=lambda r: r["key"])

        def work(tx: Any) -> None:
            tx.run(MERGE_ENTITIES, rows=entity_rows).consume()
            # Attributes are JSON text on the node: merge them here, in the same transaction
            # (may run again if the driver retries it, so the input rows stay untouched).
            for read, merge, rows in (
                (READ_MENTION_ATTRIBUTES, MERGE_MENTIONS, mention_rows),
                (READ_EVIDENCE_ATTRIBUTES, MERGE_EVIDENCE, evidence_rows),
            ):
                if not rows:
                    continue
                old = {r["key"]: r["attributes"] for r in tx.run(read, keys=[r["key"] for r in rows])}
                merged = [
                    {**row, "attributes": _merged_json(old.get(row["key"]), row["attributes"])}
                    for row in rows
                ]
                tx.run(merge, rows=merged, additive=additive).consume()

        with self.driver.session(database=self.database) as session:
            session.execute_write(work)

    @staticmethod
    def _provenance_row(record: MentionRecord | EvidenceRecord) -> dict[str, Any]:
        p = record.provenance
        return {
            "organization_id": int(p.organization_id),
            "task_id": str(p.task_id),
            "result_id": str(p.result_id) if p.result_id else "",
            "agent": p.agent,
            "model": p.model,
            "attributes": record.attributes,
            "first_seen": record.first_seen,
            "last_seen": record.last_seen,
            "count": int(record.count),
        }

    def _mention_row(self, m: MentionRecord) -> dict[str, Any]:
        row = self._provenance_row(m)
        row["entity_key"] = entity_key(m.key)
        row["key"] = SEP.join([row["entity_key"], row["task_id"], row["result_id"]])
        return row

    def _evidence_row(self, e: EvidenceRecord) -> dict[str, Any]:
        row = self._provenance_row(e)
        row["source_key"] = entity_key(e.source)
        row["target_key"] = entity_key(e.target)
        row["type"] = e.type
        row["rel_key"] = SEP.join([row["source_key"], e.type, row["target_key"]])
        row["key"] = SEP.join([row["rel_key"], row["task_id"], row["result_id"]])
        return row

    def delete_entity(self, key: EntityKey) -> None:
        def work(tx: Any) -> None:
            tx.run(DELETE_EVIDENCE, key=entity_key(key)).consume()
            tx.run(DELETE_ENTITY, key=entity_key(key)).consume()

        with self.driver.session(database=self.database) as session:
            session.execute_write(work)

    # ------------------------------------------------------------------ reads

    def _entities(self, keys: list[str], organization_id: int) -> dict[str, EntityOut]:
        if not keys:
            return {}
        out = {}
        for r in self._read(ENTITIES, keys=keys, org=int(organization_id)):
            out[r["key"]] = EntityOut(
                kind=r["kind"],
                value=r["value"],
                normalized=r["normalized"],
                attributes=merge_attributes(json.loads(a) for a in r["attributes"]),
                first_seen=_native(r["first_seen"]),
                last_seen=_native(r["last_seen"]),
                count=int(r["count"]),
            )
        return out

    def get(self, key: EntityKey, *, organization_id: int) -> EntityOut | None:
        return self._entities([entity_key(key)], organization_id).get(entity_key(key))

    def _edges(self, rel_keys: list[str], organization_id: int) -> dict[str, RelationOut]:
        if not rel_keys:
            return {}
        rows = self._read(EVIDENCE_OF, rel_keys=rel_keys, org=int(organization_id))
        return relations_from_evidence(
            (
                r["rel_key"],
                EntityKey(r["sk"], r["sn"]),
                r["type"],
                EntityKey(r["tk"], r["tn"]),
                ProvenanceOut(
                    r["task_id"],
                    r["result_id"] or None,
                    r["agent"],
                    r["model"],
                    _native(r["first_seen"]),
                    _native(r["last_seen"]),
                    r["count"],
                ),
                json.loads(r["attributes"]),
            )
            for r in rows
        )

    def neighbourhood(
        self,
        key: EntityKey,
        *,
        organization_id: int,
        depth: int = 1,
        max_nodes: int = 100,
        max_edges: int = 300,
    ) -> Subgraph:
        depth = max(0, min(int(depth), MAX_DEPTH))
        start = entity_key(key)
        if self.get(key, organization_id=organization_id) is None:
            raise UnknownEntity(f"Unknown entity {key.kind}:{key.normalized}.")
        depths = {start: 0}
        frontier = [start]
        truncated = False
        for level in range(1, depth + 1):
            if not frontier:
                break
            remaining = max_nodes - len(depths)
            rows = self._read(
                NEIGHBOURS,
                keys=frontier,
                seen=list(depths),
                org=int(organization_id),
                limit=max(remaining, 0) + 1,
            )
            found = [r["key"] for r in rows]
            if len(found) > remaining:
                truncated = True
                found = found[:remaining]
            for k in found:
                depths[k] = level
            frontier = found
            if truncated:
                break
        keys = list(depths)
        nodes = self._entities(keys, organization_id)
        rel_keys = [
            r["rel_key"] for r in self._read(EDGES_BETWEEN, keys=keys, org=int(organization_id), sep=SEP)
        ]
        edges = sorted(
            self._edges(rel_keys, organization_id).values(), key=lambda e: (-e.last_seen.timestamp(), e.type)
        )
        truncated = truncated or len(edges) > max_edges
        out = []
        for k in keys:
            node = nodes[k]
            node.depth = depths[k]
            out.append(node)
        return Subgraph(nodes=out, edges=edges[:max_edges], truncated=truncated)

    def shortest_path(
        self, source: EntityKey, target: EntityKey, *, organization_id: int, max_depth: int = 4
    ) -> Subgraph | None:
        org = int(organization_id)
        start = self.get(source, organization_id=org)
        if start is None or self.get(target, organization_id=org) is None:
            raise UnknownEntity("Unknown entity.")
        if source == target:
            return Subgraph(nodes=[start], edges=[])
        rows = self._read(
            SHORTEST_PATH, source=entity_key(source), target=entity_key(target), org=org, sep=SEP
        )
        if not rows or len(rows[0]["rels"]) > max_depth:
            return None
        node_keys, rel_keys = rows[0]["nodes"], rows[0]["rels"]
        nodes = self._entities(node_keys, org)
        edges = self._edges(rel_keys, org)
        return Subgraph(nodes=[nodes[k] for k in node_keys], edges=[edges[k] for k in rel_keys])

    def task_entities(self, task_id: str, *, organization_id: int) -> list[EntityOut]:
        keys = [r["key"] for r in self._read(TASK_ENTITY_KEYS, task=str(task_id), org=int(organization_id))]
        return sorted(self._entities(keys, organization_id).values(), key=lambda n: (n.kind, n.normalized))

    def search(
        self, prefix: str, *, organization_id: int, kind: str | None = None, limit: int = 20
    ) -> list[EntityOut]:
        from apps.knowledge.graph.port import normalize, normalize_kind

        if not prefix.strip():
            return []
        needle = normalize(kind, prefix) if kind else prefix.strip().lower()
        keys = [
            r["key"]
            for r in self._read(
                SEARCH,
                prefix=needle,
                kind=normalize_kind(kind) if kind else None,
                org=int(organization_id),
                limit=int(limit),
            )
        ]
        found = self._entities(keys, organization_id)
        return [found[k] for k in keys if k in found]

    # ------------------------------------------------------------------ bulk

    def records_of(self, key: EntityKey) -> tuple[list[MentionRecord], list[EvidenceRecord]]:
        k = entity_key(key)
        mentions = [_mention_record(r["kind"], r["value"], r["m"]) for r in self._read(MENTIONS_OF, key=k)]
        evidence = [_evidence_record(r) for r in self._read(EVIDENCE_TOUCHING, key=k)]
        return mentions, evidence

    def dump(self, batch_size: int = 1000) -> Iterator[tuple[list[MentionRecord], list[EvidenceRecord]]]:
        after = ""
        while True:
            rows = self._read(DUMP_MENTIONS, after=after, limit=batch_size)
            if not rows:
                break
            after = rows[-1]["m"]["key"]
            yield [_mention_record(r["kind"], r["value"], r["m"]) for r in rows], []
        after = ""
        while True:
            rows = self._read(DUMP_EVIDENCE, after=after, limit=batch_size)
            if not rows:
                break
            after = rows[-1]["v"]["key"]
            yield [], [_evidence_record(r) for r in rows]


def _merged_json(old: str | None, new: dict[str, Any]) -> str:
    base = json.loads(old) if old else {}
    return json.dumps(merge_attributes([base, new]), default=str)


def _provenance(node: Any) -> Provenance:
    return Provenance(
        organization_id=int(node["organization_id"]),
        task_id=node["task_id"],
        result_id=node["result_id"] or None,
        agent=node.get("agent", ""),
        model=node.get("model", ""),
    )


def _mention_record(kind: str, value: str, m: Any) -> MentionRecord:
    return MentionRecord(
        kind=kind,
        value=value,
        attributes=json.loads(m.get("attributes") or "{}"),
        provenance=_provenance(m),
        first_seen=_native(m["first_seen"]),
        last_seen=_native(m["last_seen"]),
        count=int(m["count"]),
    )


def _evidence_record(r: Any) -> EvidenceRecord:
    v = r["v"]
    return EvidenceRecord(
        source_kind=r["sk"],
        source_value=r["sv"],
        type=v["type"],
        target_kind=r["tk"],
        target_value=r["tv"],
        attributes=json.loads(v.get("attributes") or "{}"),
        provenance=_provenance(v),
        first_seen=_native(v["first_seen"]),
        last_seen=_native(v["last_seen"]),
        count=int(v["count"]),
    )
