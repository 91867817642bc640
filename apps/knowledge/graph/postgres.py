"""GraphStore on Postgres: the default backend. Tables are the knowledge app's Graph* models;
writes are set-based (one INSERT ... SELECT FROM unnest(...) ON CONFLICT per table and batch, in
key order so concurrent batches cannot deadlock); neighbourhood and shortest path are recursive
CTEs over the relations the organisation has evidence for. Writes join the caller's transaction,
so a result and its graph facts commit together."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.db.utils import OperationalError

from apps.knowledge.graph.port import (
    MAX_DEPTH,
    MAX_PATH_DEPTH,
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
from apps.knowledge.models import GraphEntity, GraphEvidence, GraphMention

# SQL names the tables literally: knowledge_graphentity, knowledge_graphrelation,
# knowledge_graphmention, knowledge_graphevidence.
MENTION = GraphMention._meta.db_table
EVIDENCE = GraphEvidence._meta.db_table

# A path search explores simple paths breadth-first; on a dense graph that can grow fast, so it
# runs under a statement timeout and reports the limit instead of hanging a request.
PATH_TIMEOUT_MS = 5000

_UPSERT_PROVENANCE = """
INSERT INTO {table} ({owner}, organization_id, task_id, result_id, agent, model, attributes,
                     first_seen, last_seen, "count")
SELECT o, org, t, r, a, m, attrs::jsonb, fs, ls, c
FROM unnest(%s::bigint[], %s::bigint[], %s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::text[],
            %s::timestamptz[], %s::timestamptz[], %s::int[])
     AS x(o, org, t, r, a, m, attrs, fs, ls, c)
ON CONFLICT ({owner}, task_id, result_id) DO UPDATE SET
    organization_id = EXCLUDED.organization_id,
    agent = EXCLUDED.agent,
    model = CASE WHEN EXCLUDED.model <> '' THEN EXCLUDED.model ELSE {table}.model END,
    attributes = {table}.attributes || EXCLUDED.attributes,
    first_seen = LEAST({table}.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST({table}.last_seen, EXCLUDED.last_seen),
    "count" = {count}
"""


def _provenance_sql(table: str, owner: str, additive: bool) -> str:
    count = f'{table}."count" + EXCLUDED."count"' if additive else 'EXCLUDED."count"'
    return _UPSERT_PROVENANCE.format(table=table, owner=owner, count=count)


class PostgresGraphStore(GraphStore):
    type = "postgres"
    name = "postgres"
    transactional = True

    # ------------------------------------------------------------------ writes

    def write(self, mentions: list[MentionRecord], evidence: list[EvidenceRecord], *, additive: bool) -> None:
        mentions, evidence = fold(mentions, evidence)
        values: dict[EntityKey, str] = {}
        for m in mentions:
            values.setdefault(m.key, m.value)
        for e in evidence:
            values.setdefault(e.source, e.source_value)
            values.setdefault(e.target, e.target_value)
        if not values:
            return
        with transaction.atomic(), connection.cursor() as cur:
            ids = self._entity_ids(cur, values)
            if mentions:
                mentions.sort(key=lambda m: (ids[m.key], m.provenance.task_id, m.provenance.result_id or ""))
                cur.execute(
                    _provenance_sql(MENTION, "entity_id", additive),
                    [[ids[m.key] for m in mentions], *_provenance_columns(mentions)],
                )
            if evidence:
                rel_ids = self._relation_ids(cur, ids, evidence)
                evidence.sort(
                    key=lambda e: (
                        rel_ids[(ids[e.source], e.type, ids[e.target])],
                        e.provenance.task_id,
                        e.provenance.result_id or "",
                    )
                )
                cur.execute(
                    _provenance_sql(EVIDENCE, "relation_id", additive),
                    [
                        [rel_ids[(ids[e.source], e.type, ids[e.target])] for e in evidence],
                        *_provenance_columns(evidence),
                    ],
                )

    def _entity_ids(self, cur: Any, values: dict[EntityKey, str]) -> dict[EntityKey, int]:
        keys = sorted(values, key=lambda k: (k.kind, k.normalized))
        kinds = [k.kind for k in keys]
        norms = [k.normalized for k in keys]
        cur.execute(
            """INSERT INTO knowledge_graphentity (kind, normalized, value)
                SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])
                ON CONFLICT (kind, normalized) DO NOTHING""",
            [kinds, norms, [values[k][:1024] for k in keys]],
        )
        cur.execute(
            """SELECT e.id, e.kind, e.normalized FROM knowledge_graphentity e
                JOIN unnest(%s::text[], %s::text[]) AS x(kind, normalized)
                  ON e.kind = x.kind AND e.normalized = x.normalized""",
            [kinds, norms],
        )
        return {EntityKey(kind, norm): pk for pk, kind, norm in cur.fetchall()}

    def _relation_ids(
        self, cur: Any, ids: dict[EntityKey, int], evidence: list[EvidenceRecord]
    ) -> dict[tuple[int, str, int], int]:
        triples = sorted({(ids[e.source], e.type, ids[e.target]) for e in evidence})
        columns = [[t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples]]
        cur.execute(
            """INSERT INTO knowledge_graphrelation (source_id, type, target_id)
                SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[])
                ON CONFLICT (source_id, type, target_id) DO NOTHING""",
            columns,
        )
        cur.execute(
            """SELECT r.id, r.source_id, r.type, r.target_id FROM knowledge_graphrelation r
                JOIN unnest(%s::bigint[], %s::text[], %s::bigint[]) AS x(s, t, d)
                  ON r.source_id = x.s AND r.type = x.t AND r.target_id = x.d""",
            columns,
        )
        return {(s, t, d): pk for pk, s, t, d in cur.fetchall()}

    def clear(self) -> None:
        GraphEntity.objects.all().delete()

    def delete_entity(self, key: EntityKey) -> None:
        GraphEntity.objects.filter(kind=key.kind, normalized=key.normalized).delete()

    def merge(self, keep: EntityKey, duplicate: EntityKey) -> None:
        with transaction.atomic():
            super().merge(keep, duplicate)

    # ------------------------------------------------------------------ reads

    def _entities(self, ids: list[int], organization_id: int) -> dict[int, EntityOut]:
        if not ids:
            return {}
        with connection.cursor() as cur:
            cur.execute(
                """SELECT e.id, e.kind, e.value, e.normalized,
                           array_agg(m.attributes::text ORDER BY m.last_seen, m.id),
                           min(m.first_seen), max(m.last_seen), sum(m."count")
                    FROM knowledge_graphentity e
                    JOIN knowledge_graphmention m ON m.entity_id = e.id AND m.organization_id = %s
                    WHERE e.id = ANY(%s) GROUP BY e.id""",
                [organization_id, ids],
            )
            return {row[0]: _entity_out(row) for row in cur.fetchall()}

    def _entity_id(self, key: EntityKey, organization_id: int) -> int | None:
        row = (
            GraphMention.objects.filter(
                organization_id=organization_id, entity__kind=key.kind, entity__normalized=key.normalized
            )
            .values_list("entity_id", flat=True)
            .first()
        )
        return row

    def get(self, key: EntityKey, *, organization_id: int) -> EntityOut | None:
        pk = self._entity_id(key, organization_id)
        return None if pk is None else self._entities([pk], organization_id)[pk]

    def _edges(self, relation_ids: list[int], organization_id: int) -> dict[int, RelationOut]:
        """Relations with the organisation's provenance, by relation id."""
        with connection.cursor() as cur:
            cur.execute(
                """SELECT r.id, s.kind, s.normalized, r.type, t.kind, t.normalized,
                           ev.task_id, ev.result_id, ev.agent, ev.model, ev.attributes::text,
                           ev.first_seen, ev.last_seen, ev."count"
                    FROM knowledge_graphrelation r
                    JOIN knowledge_graphentity s ON s.id = r.source_id
                    JOIN knowledge_graphentity t ON t.id = r.target_id
                    JOIN knowledge_graphevidence ev ON ev.relation_id = r.id AND ev.organization_id = %s
                    WHERE r.id = ANY(%s)
                    ORDER BY r.id, ev.last_seen, ev.id""",
                [organization_id, relation_ids],
            )
            rows = cur.fetchall()
        return relations_from_evidence(
            (
                rid,
                EntityKey(sk, sn),
                rtype,
                EntityKey(tk, tn),
                ProvenanceOut(str(task), str(result) if result else None, agent, model, fs, ls, count),
                json.loads(attrs),
            )
            for rid, sk, sn, rtype, tk, tn, task, result, agent, model, attrs, fs, ls, count in rows
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
        start = self._entity_id(key, organization_id)
        if start is None:
            raise UnknownEntity(f"Unknown entity {key.kind}:{key.normalized}.")
        with connection.cursor() as cur:
            # UNION (not UNION ALL) drops repeated (node, depth) pairs, so the walk is bounded by
            # nodes x depth even on cyclic graphs.
            cur.execute(
                """WITH RECURSIVE walk(node, depth) AS (
                        SELECT %s::bigint, 0
                      UNION
                        SELECT CASE WHEN r.source_id = w.node THEN r.target_id ELSE r.source_id END,
                               w.depth + 1
                        FROM walk w
                        JOIN knowledge_graphrelation r ON r.source_id = w.node OR r.target_id = w.node
                        WHERE w.depth < %s AND EXISTS (
                            SELECT 1 FROM knowledge_graphevidence ev
                            WHERE ev.relation_id = r.id AND ev.organization_id = %s)
                    )
                    SELECT node, min(depth) AS d FROM walk GROUP BY node
                    ORDER BY d, node LIMIT %s""",
                [start, depth, organization_id, max_nodes + 1],
            )
            found = cur.fetchall()
        truncated = len(found) > max_nodes
        found = found[:max_nodes]
        depths = dict(found)
        ids = list(depths)
        nodes = self._entities(ids, organization_id)
        with connection.cursor() as cur:
            cur.execute(
                """SELECT r.id FROM knowledge_graphrelation r
                    JOIN knowledge_graphevidence ev ON ev.relation_id = r.id AND ev.organization_id = %s
                    WHERE r.source_id = ANY(%s) AND r.target_id = ANY(%s)
                    GROUP BY r.id ORDER BY max(ev.last_seen) DESC, r.id LIMIT %s""",
                [organization_id, ids, ids, max_edges + 1],
            )
            rel_ids = [row[0] for row in cur.fetchall()]
        truncated = truncated or len(rel_ids) > max_edges
        by_id = self._edges(rel_ids[:max_edges], organization_id)
        edges = [by_id[rid] for rid in rel_ids[:max_edges]]
        out = []
        for pk in ids:
            node = nodes[pk]
            node.depth = depths[pk]
            out.append(node)
        return Subgraph(nodes=out, edges=edges, truncated=truncated)

    def shortest_path(
        self, source: EntityKey, target: EntityKey, *, organization_id: int, max_depth: int = 4
    ) -> Subgraph | None:
        max_depth = max(1, min(int(max_depth), MAX_PATH_DEPTH))
        src = self._entity_id(source, organization_id)
        dst = self._entity_id(target, organization_id)
        if src is None or dst is None:
            raise UnknownEntity("Unknown entity.")
        if src == dst:
            return Subgraph(nodes=[self._entities([src], organization_id)[src]], edges=[])
        # Each iteration of the recursive term yields exactly the paths one hop longer, and the
        # outer LIMIT stops the iteration at the first path reaching the target: breadth first.
        sql = """WITH RECURSIVE paths(node, nodes, rels, depth) AS (
                    SELECT %s::bigint, ARRAY[%s::bigint], ARRAY[]::bigint[], 0
                  UNION ALL
                    SELECT nxt.node, p.nodes || nxt.node, p.rels || r.id, p.depth + 1
                    FROM paths p
                    JOIN knowledge_graphrelation r ON r.source_id = p.node OR r.target_id = p.node
                    CROSS JOIN LATERAL (SELECT CASE WHEN r.source_id = p.node
                                               THEN r.target_id ELSE r.source_id END AS node) nxt
                    WHERE p.depth < %s AND p.node <> %s AND NOT nxt.node = ANY(p.nodes)
                      AND EXISTS (SELECT 1 FROM knowledge_graphevidence ev
                                  WHERE ev.relation_id = r.id AND ev.organization_id = %s)
                  )
                  SELECT nodes, rels FROM paths WHERE node = %s LIMIT 1"""
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT set_config('statement_timeout', %s, true)", [str(PATH_TIMEOUT_MS)])
                cur.execute(sql, [src, src, max_depth, dst, organization_id, dst])
                row = cur.fetchone()
        except OperationalError as exc:
            raise GraphError("The path search exceeded its time limit; try a smaller depth.") from exc
        if row is None:
            return None
        node_ids, rel_ids = row
        nodes = self._entities(list(node_ids), organization_id)
        by_id = self._edges(list(rel_ids), organization_id)
        return Subgraph(nodes=[nodes[pk] for pk in node_ids], edges=[by_id[rid] for rid in rel_ids])

    def task_entities(self, task_id: str, *, organization_id: int) -> list[EntityOut]:
        ids = list(
            GraphMention.objects.filter(task_id=task_id, organization_id=organization_id)
            .values_list("entity_id", flat=True)
            .distinct()
        )
        nodes = self._entities(ids, organization_id)
        return sorted(nodes.values(), key=lambda n: (n.kind, n.normalized))

    def mentions(self, key: EntityKey, *, organization_id: int, limit: int = 50) -> list[ProvenanceOut]:
        rows = (
            GraphMention.objects.filter(
                organization_id=organization_id, entity__kind=key.kind, entity__normalized=key.normalized
            )
            .order_by("-last_seen", "-id")
            .values_list("task_id", "result_id", "agent", "model", "first_seen", "last_seen", "count")[:limit]
        )
        return [
            ProvenanceOut(str(task), str(result) if result else None, agent, model, fs, ls, count)
            for task, result, agent, model, fs, ls, count in rows
        ]

    def search(
        self, prefix: str, *, organization_id: int, kind: str | None = None, limit: int = 20
    ) -> list[EntityOut]:
        from apps.knowledge.graph.port import normalize, normalize_kind

        if not prefix.strip():
            return []
        needle = normalize(kind or "", prefix) if kind else prefix.strip().lower()
        qs = GraphMention.objects.filter(
            organization_id=organization_id, entity__normalized__startswith=needle
        )
        if kind:
            qs = qs.filter(entity__kind=normalize_kind(kind))
        ids = list(qs.values_list("entity_id", flat=True).distinct()[: limit * 4])
        nodes = self._entities(ids, organization_id)
        return sorted(nodes.values(), key=lambda n: (len(n.normalized), n.normalized, n.kind))[:limit]

    # ------------------------------------------------------------------ bulk

    def records_of(self, key: EntityKey) -> tuple[list[MentionRecord], list[EvidenceRecord]]:
        entity = GraphEntity.objects.filter(kind=key.kind, normalized=key.normalized).first()
        if entity is None:
            return [], []
        mentions = [_mention_record(m, entity) for m in GraphMention.objects.filter(entity=entity)]
        evidence = [
            _evidence_record(ev)
            for ev in GraphEvidence.objects.filter(relation__source=entity).select_related(
                "relation__source", "relation__target"
            )
        ] + [
            _evidence_record(ev)
            for ev in GraphEvidence.objects.filter(relation__target=entity)
            .exclude(relation__source=entity)
            .select_related("relation__source", "relation__target")
        ]
        return mentions, evidence

    def dump(self, batch_size: int = 1000) -> Iterator[tuple[list[MentionRecord], list[EvidenceRecord]]]:
        batch: list[MentionRecord] = []
        for m in GraphMention.objects.select_related("entity").order_by("id").iterator(chunk_size=batch_size):
            batch.append(_mention_record(m, m.entity))
            if len(batch) >= batch_size:
                yield batch, []
                batch = []
        if batch:
            yield batch, []
        rows: list[EvidenceRecord] = []
        for ev in (
            GraphEvidence.objects.select_related("relation__source", "relation__target")
            .order_by("id")
            .iterator(chunk_size=batch_size)
        ):
            rows.append(_evidence_record(ev))
            if len(rows) >= batch_size:
                yield [], rows
                rows = []
        if rows:
            yield [], rows


def _provenance_columns(records: list[Any]) -> list[list[Any]]:
    return [
        [r.provenance.organization_id for r in records],
        [r.provenance.task_id for r in records],
        [r.provenance.result_id for r in records],
        [r.provenance.agent[:64] for r in records],
        [r.provenance.model[:200] for r in records],
        [json.dumps(r.attributes, default=str) for r in records],
        [r.first_seen for r in records],
        [r.last_seen for r in records],
        [r.count for r in records],
    ]


def _entity_out(row: tuple) -> EntityOut:
    _pk, kind, value, normalized, attrs, first_seen, last_seen, count = row
    return EntityOut(
        kind=kind,
        value=value,
        normalized=normalized,
        attributes=merge_attributes(json.loads(a) for a in attrs),
        first_seen=first_seen,
        last_seen=last_seen,
        count=int(count or 0),
    )


def _provenance(row: GraphMention | GraphEvidence) -> Provenance:
    return Provenance(
        organization_id=row.organization_id,
        task_id=str(row.task_id),
        result_id=str(row.result_id) if row.result_id else None,
        agent=row.agent,
        model=row.model,
    )


def _mention_record(m: GraphMention, entity: GraphEntity) -> MentionRecord:
    return MentionRecord(
        kind=entity.kind,
        value=entity.value,
        attributes=dict(m.attributes),
        provenance=_provenance(m),
        first_seen=m.first_seen,
        last_seen=m.last_seen,
        count=m.count,
    )


def _evidence_record(ev: GraphEvidence) -> EvidenceRecord:
    rel = ev.relation
    return EvidenceRecord(
        source_kind=rel.source.kind,
        source_value=rel.source.value,
        type=rel.type,
        target_kind=rel.target.kind,
        target_value=rel.target.value,
        attributes=dict(ev.attributes),
        provenance=_provenance(ev),
        first_seen=ev.first_seen,
        last_seen=ev.last_seen,
        count=ev.count,
    )
