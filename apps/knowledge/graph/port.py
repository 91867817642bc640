"""The GraphStore port: what AMAS asks of a knowledge graph, whatever holds it.

Two backends implement it: Postgres (default, apps/knowledge/graph/postgres.py) and Neo4j
(apps/knowledge/graph/neo4j.py, when NEO4J_URL is set). Both are checked by the same contract
tests (tests/knowledge/test_graph_contract.py).

The model: entities are unique on (kind, normalised value) and shared by every organisation.
Provenance says who knows what: a *mention* records that a task's result named an entity, an
*evidence* record that it reported a relation. Each carries organisation, task, result, agent,
model (when an LLM produced it), first/last seen and a count. Reads take an organisation and only
see entities and relations that organisation has provenance for.

Writes are idempotent: the count of a (entity or relation, task, result) record is how many times
that result named it, so re-applying the same batch (a re-delivered step) changes nothing but
last_seen.
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from apps.agents.base import Entity, Relation

MAX_DEPTH = 4
MAX_PATH_DEPTH = 6


class GraphError(Exception):
    """A graph operation that cannot be done (unknown entity, a query over its limits)."""


class UnknownEntity(GraphError):
    """No such entity, or none the organisation has provenance for."""


# --------------------------------------------------------------------------- normalisation


def _normalize_url(value: str) -> str:
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").rstrip(".")
    netloc = host
    if parts.port:
        netloc = f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def normalize(kind: str, value: str) -> str:
    """The identity of a value of a kind: `Example.ORG.` and `example.org` are one domain."""
    kind = kind.strip().lower()
    value = value.strip()
    if kind in {"domain", "hostname", "email"}:
        return value.rstrip(".").lower()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value.lower()
    if kind == "url":
        try:
            return _normalize_url(value)
        except ValueError:
            return value
    if kind in {"hash", "md5", "sha1", "sha256", "sha512"}:
        return value.lower()
    if kind == "cve":
        return value.upper()
    return re.sub(r"\s+", " ", value).casefold()


def normalize_kind(kind: str) -> str:
    return kind.strip().lower()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class EntityKey:
    kind: str
    normalized: str

    @classmethod
    def of(cls, kind: str, value: str) -> EntityKey:
        return cls(normalize_kind(kind), normalize(kind, value))


@dataclass(frozen=True)
class Provenance:
    organization_id: int
    task_id: str
    result_id: str | None = None
    agent: str = ""
    model: str = ""


@dataclass
class MentionRecord:
    """An entity named by one (task, result), with its timestamps and count."""

    kind: str
    value: str
    attributes: dict[str, Any]
    provenance: Provenance
    first_seen: datetime
    last_seen: datetime
    count: int = 1

    @property
    def key(self) -> EntityKey:
        return EntityKey.of(self.kind, self.value)


@dataclass
class EvidenceRecord:
    """A relation reported by one (task, result). Endpoints are (kind, value) pairs."""

    source_kind: str
    source_value: str
    type: str
    target_kind: str
    target_value: str
    attributes: dict[str, Any]
    provenance: Provenance
    first_seen: datetime
    last_seen: datetime
    count: int = 1

    @property
    def source(self) -> EntityKey:
        return EntityKey.of(self.source_kind, self.source_value)

    @property
    def target(self) -> EntityKey:
        return EntityKey.of(self.target_kind, self.target_value)


@dataclass
class GraphBatch:
    """What one result contributes: its entities and relations under one provenance."""

    provenance: Provenance
    seen_at: datetime
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def records(self) -> tuple[list[MentionRecord], list[EvidenceRecord]]:
        """Fold the batch into records, one per identity, counting repeats."""
        mentions: dict[EntityKey, MentionRecord] = {}
        evidence: dict[tuple[EntityKey, str, EntityKey], EvidenceRecord] = {}

        def mention(entity: Entity) -> None:
            key = EntityKey.of(entity.kind, entity.value)
            model = str(entity.attributes.get("model", "") or self.provenance.model)
            record = mentions.get(key)
            if record is None:
                mentions[key] = MentionRecord(
                    kind=key.kind,
                    value=entity.value.strip(),
                    attributes=_plain(entity.attributes),
                    provenance=replace(self.provenance, model=model),
                    first_seen=self.seen_at,
                    last_seen=self.seen_at,
                    count=1,
                )
            else:
                record.count += 1
                record.attributes.update(_plain(entity.attributes))

        for entity in self.entities:
            if entity.value.strip():
                mention(entity)
        for relation in self.relations:
            if not (relation.source.value.strip() and relation.target.value.strip()):
                continue
            for end in (relation.source, relation.target):
                if EntityKey.of(end.kind, end.value) not in mentions:
                    mention(end)
            rel_type = relation.type.strip().lower()
            ident = (
                EntityKey.of(relation.source.kind, relation.source.value),
                rel_type,
                EntityKey.of(relation.target.kind, relation.target.value),
            )
            model = str(relation.attributes.get("model", "") or self.provenance.model)
            record = evidence.get(ident)
            if record is None:
                evidence[ident] = EvidenceRecord(
                    source_kind=ident[0].kind,
                    source_value=relation.source.value.strip(),
                    type=rel_type,
                    target_kind=ident[2].kind,
                    target_value=relation.target.value.strip(),
                    attributes=_plain(relation.attributes),
                    provenance=replace(self.provenance, model=model),
                    first_seen=self.seen_at,
                    last_seen=self.seen_at,
                )
            else:
                record.count += 1
                record.attributes.update(_plain(relation.attributes))
        return list(mentions.values()), list(evidence.values())


def _plain(attributes: dict[str, Any]) -> dict[str, Any]:
    # "model" is provenance, not an attribute of the thing.
    return {k: v for k, v in attributes.items() if k != "model"}


# --------------------------------------------------------------------------- reads


@dataclass
class EntityOut:
    kind: str
    value: str
    normalized: str
    attributes: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int = 0  # mentions visible to the organisation
    depth: int | None = None  # in a neighbourhood: hops from the centre

    @property
    def key(self) -> EntityKey:
        return EntityKey(self.kind, self.normalized)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": f"{self.kind}:{self.normalized}",
            "kind": self.kind,
            "value": self.value,
            "normalized": self.normalized,
            "attributes": self.attributes,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
            "depth": self.depth,
        }


@dataclass
class ProvenanceOut:
    task_id: str
    result_id: str | None
    agent: str
    model: str
    first_seen: datetime
    last_seen: datetime
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "result_id": self.result_id,
            "agent": self.agent,
            "model": self.model,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
        }


@dataclass
class RelationOut:
    source: EntityKey
    type: str
    target: EntityKey
    attributes: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int
    provenance: list[ProvenanceOut]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": f"{self.source.kind}:{self.source.normalized}",
            "type": self.type,
            "target": f"{self.target.kind}:{self.target.normalized}",
            "attributes": self.attributes,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
            "provenance": [p.as_dict() for p in self.provenance],
        }


@dataclass
class Subgraph:
    nodes: list[EntityOut]
    edges: list[RelationOut]
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes": [n.as_dict() for n in self.nodes],
            "edges": [e.as_dict() for e in self.edges],
            "truncated": self.truncated,
        }


# --------------------------------------------------------------------------- the port


class GraphStore(ABC):
    name: str
    # True when writes join the caller's Django database transaction (Postgres backend).
    transactional: bool = False

    @classmethod
    def from_settings(cls) -> GraphStore:
        """The store as configured; backends that need a server address override this, so
        choosing a backend by name needs no knowledge of any backend's arguments."""
        return cls()

    def setup(self) -> None:  # noqa: B027 - optional: constraints/indexes where the backend needs them
        """Create constraints and indexes. Idempotent."""

    def upsert(self, batch: GraphBatch) -> None:
        mentions, evidence = batch.records()
        if mentions or evidence:
            self.write(mentions, evidence, additive=False)

    @abstractmethod
    def write(self, mentions: list[MentionRecord], evidence: list[EvidenceRecord], *, additive: bool) -> None:
        """Write provenance records, creating entities and relations as needed. For an existing
        record (same entity or relation, task and result): first_seen = min, last_seen = max, and
        count is replaced (`additive=False`, idempotent) or summed (`additive=True`, merges)."""

    @abstractmethod
    def get(self, key: EntityKey, *, organization_id: int) -> EntityOut | None: ...

    @abstractmethod
    def neighbourhood(
        self,
        key: EntityKey,
        *,
        organization_id: int,
        depth: int = 1,
        max_nodes: int = 100,
        max_edges: int = 300,
    ) -> Subgraph:
        """The entity and what is within `depth` hops (either direction), nearest first."""

    @abstractmethod
    def shortest_path(
        self, source: EntityKey, target: EntityKey, *, organization_id: int, max_depth: int = 4
    ) -> Subgraph | None:
        """Nodes in path order and the edges between them, or None when not connected within
        max_depth hops."""

    @abstractmethod
    def task_entities(self, task_id: str, *, organization_id: int) -> list[EntityOut]: ...

    def mentions(self, key: EntityKey, *, organization_id: int, limit: int = 50) -> list[ProvenanceOut]:
        """The (task, result) records of the organisation that name the entity, latest first, at
        most `limit` (the entity page lists them). This default reads every record of the entity;
        a backend overrides it with a bounded query."""
        rows = [m for m in self.records_of(key)[0] if m.provenance.organization_id == organization_id]
        rows.sort(key=lambda m: m.last_seen, reverse=True)
        return [
            ProvenanceOut(
                m.provenance.task_id,
                m.provenance.result_id,
                m.provenance.agent,
                m.provenance.model,
                m.first_seen,
                m.last_seen,
                m.count,
            )
            for m in rows[:limit]
        ]

    @abstractmethod
    def search(
        self, prefix: str, *, organization_id: int, kind: str | None = None, limit: int = 20
    ) -> list[EntityOut]:
        """Entities whose normalised value starts with the normalised prefix."""

    @abstractmethod
    def records_of(self, key: EntityKey) -> tuple[list[MentionRecord], list[EvidenceRecord]]:
        """Every provenance record touching the entity (all organisations)."""

    @abstractmethod
    def delete_entity(self, key: EntityKey) -> None: ...

    @abstractmethod
    def clear(self) -> None:
        """Delete the whole graph (copy --replace, tests)."""

    @abstractmethod
    def dump(self, batch_size: int = 1000) -> Iterator[tuple[list[MentionRecord], list[EvidenceRecord]]]:
        """Everything, in batches, for copying to another backend."""

    def load(self, batches: Iterable[tuple[list[MentionRecord], list[EvidenceRecord]]]) -> int:
        """Write dumped records (idempotent: loading twice gives the same graph)."""
        n = 0
        for mentions, evidence in batches:
            self.write(mentions, evidence, additive=False)
            n += len(mentions) + len(evidence)
        return n

    def merge(self, keep: EntityKey, duplicate: EntityKey) -> None:
        """Fold `duplicate` into `keep`: its mentions and relations move over (counts add up,
        first/last seen widen), relations between the two disappear, the duplicate is deleted and
        its value kept in keep's attributes under `aliases`."""
        if keep == duplicate:
            raise GraphError("An entity cannot be merged into itself.")
        kept = self.records_of(keep)
        if not kept[0]:
            raise UnknownEntity(f"Unknown entity {keep.kind}:{keep.normalized}.")
        mentions, evidence = self.records_of(duplicate)
        if not mentions:
            raise UnknownEntity(f"Unknown entity {duplicate.kind}:{duplicate.normalized}.")
        keep_value = kept[0][0].value if kept[0] else keep.normalized

        def moved(kind: str, value: str) -> tuple[str, str]:
            return (keep.kind, keep_value) if EntityKey.of(kind, value) == duplicate else (kind, value)

        # Each moved mention remembers the name its own result used, so an organisation sees
        # only the aliases it reported itself.
        new_mentions = [
            replace(
                m,
                kind=keep.kind,
                value=keep_value,
                attributes={**m.attributes, "aliases": sorted({*m.attributes.get("aliases", []), m.value})},
            )
            for m in mentions
        ]
        new_evidence = []
        for e in evidence:
            sk, sv = moved(e.source_kind, e.source_value)
            tk, tv = moved(e.target_kind, e.target_value)
            if EntityKey.of(sk, sv) == EntityKey.of(tk, tv):
                continue  # a relation between the two names of one thing
            new_evidence.append(replace(e, source_kind=sk, source_value=sv, target_kind=tk, target_value=tv))
        self.delete_entity(duplicate)
        self.write(new_mentions, new_evidence, additive=True)


def relations_from_evidence(
    rows: Iterable[tuple[Any, EntityKey, str, EntityKey, ProvenanceOut, dict[str, Any]]],
) -> dict[Any, RelationOut]:
    """Fold evidence rows (relation key, source, type, target, provenance, attributes), oldest
    first per relation, into one RelationOut each: both backends read evidence this way."""
    edges: dict[Any, RelationOut] = {}
    reported: dict[Any, list[dict[str, Any]]] = {}
    for key, source, rtype, target, prov, attributes in rows:
        reported.setdefault(key, []).append(attributes)
        edge = edges.get(key)
        if edge is None:
            edges[key] = RelationOut(
                source, rtype, target, {}, prov.first_seen, prov.last_seen, prov.count, [prov]
            )
        else:
            edge.provenance.append(prov)
            edge.first_seen = min(edge.first_seen, prov.first_seen)
            edge.last_seen = max(edge.last_seen, prov.last_seen)
            edge.count += prov.count
    for key, edge in edges.items():
        edge.attributes = merge_attributes(reported[key])
    return edges


def merge_attributes(reported: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Attributes as reported over time (oldest first): later values win, alias lists add up."""
    merged: dict[str, Any] = {}
    for attributes in reported:
        for key, value in attributes.items():
            if key == "aliases":
                merged[key] = sorted({*merged.get(key, []), *value})
            else:
                merged[key] = value
    return merged


def fold(
    mentions: list[MentionRecord], evidence: list[EvidenceRecord]
) -> tuple[list[MentionRecord], list[EvidenceRecord]]:
    """One record per identity (entity or relation, task, result): counts add up, timestamps
    widen, attributes merge. Backends write folded records (a statement must not touch a row
    twice)."""
    by_mention: dict[tuple, MentionRecord] = {}
    for m in mentions:
        ident = (m.key, m.provenance.task_id, m.provenance.result_id)
        by_mention[ident] = _combine(by_mention.get(ident), m)
    by_evidence: dict[tuple, EvidenceRecord] = {}
    for e in evidence:
        relation = (e.source, e.type, e.target, e.provenance.task_id, e.provenance.result_id)
        by_evidence[relation] = _combine(by_evidence.get(relation), e)
    return list(by_mention.values()), list(by_evidence.values())


def _combine(old: Any, new: Any) -> Any:
    if old is None:
        return replace(new, attributes=dict(new.attributes))
    return replace(
        old,
        attributes=merge_attributes([old.attributes, new.attributes]),
        first_seen=min(old.first_seen, new.first_seen),
        last_seen=max(old.last_seen, new.last_seen),
        count=old.count + new.count,
    )
