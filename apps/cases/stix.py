"""STIX 2.1 exchange, built and checked with the OASIS `stix2` library.

Export: a task or an investigation becomes a bundle of observables (SCOs: domain-name, ipv4/ipv6-
addr, url, email-addr, file with hashes) and a few SDOs (vulnerability for CVEs, identity for
organisations and people) from its graph entities, relationships between them from the graph, a
Note per task with its summary and verdict, a Report with the investigation (or task) itself, all
marked with the TLP marking definition of their classification.

Import: each object of a bundle is parsed on its own, so a bad one is named (its index, type, id
and field) in a 422; observables become the investigation's entities with provenance "imported".
The TLP markings of the bundle raise the investigation's classification if they are stricter."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

import stix2
from django.db import transaction
from stix2.exceptions import STIXError

from apps.cases.models import Investigation, InvestigationEntity
from apps.cases.selectors import CaseEntity, investigation_entities, investigation_tasks
from apps.cases.services import _audit, _require_writer, _timeline
from apps.core.exceptions import ValidationFailed
from apps.core.vocabulary import Classification
from apps.knowledge.graph.port import normalize
from apps.knowledge.graph.selectors import graph_neighbourhood, graph_task_entities
from apps.knowledge.graph.services import graph_record_imported
from apps.tasks import selectors as task_selectors
from apps.tasks.models import Task
from apps.users.models import User

# TLP 1.0 definitions as the library ships them; TLP:CLEAR is TLP:WHITE's successor.
TLP_MARKINGS = {
    "clear": stix2.TLP_WHITE,
    "green": stix2.TLP_GREEN,
    "amber": stix2.TLP_AMBER,
    "red": stix2.TLP_RED,
}
TLP_BY_ID = {marking.id: level for level, marking in TLP_MARKINGS.items()}
HASH_KINDS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
MAX_EXPORT_ENTITIES = 2000
MAX_IMPORT_OBJECTS = 10_000


# --------------------------------------------------------------------------- export


def _hash_kind(value: str) -> str | None:
    return {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}.get(len(value.strip()))


def _stix_object(kind: str, value: str, attributes: dict[str, Any], marking: Any) -> Any | None:
    """The STIX object for one graph entity, or None for kinds STIX has no home for. Each
    carries `x_amas_kind`, so a re-import restores the kind (a "hash" and a "file" are both
    STIX files)."""
    kind = kind.lower()
    common = {"object_marking_refs": [marking], "allow_custom": True, "x_amas_kind": kind}
    if kind in {"domain", "hostname"}:
        return stix2.DomainName(value=value, **common)
    if kind == "ip":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        cls = stix2.IPv4Address if address.version == 4 else stix2.IPv6Address
        return cls(value=str(address), **common)
    if kind == "url":
        return stix2.URL(value=value, **common)
    if kind == "email":
        return stix2.EmailAddress(value=value, **common)
    if kind == "file":
        hashes = {"SHA-256": value.lower()}
        for key, algorithm in (("md5", "MD5"), ("sha1", "SHA-1")):
            if isinstance(attributes.get(key), str) and attributes[key]:
                hashes[algorithm] = attributes[key].lower()
        name = attributes.get("name")
        extra = {"name": name} if isinstance(name, str) and name else {}
        return stix2.File(hashes=hashes, **extra, **common)
    if kind in HASH_KINDS or kind == "hash":
        hash_name = HASH_KINDS.get(kind) or _hash_kind(value)
        return stix2.File(hashes={hash_name: value.lower()}, **common) if hash_name else None
    if kind == "cve":
        return stix2.Vulnerability(
            name=value.upper(),
            external_references=[{"source_name": "cve", "external_id": value.upper()}],
            **common,
        )
    if kind in {"organization", "person"}:
        identity_class = "organization" if kind == "organization" else "individual"
        return stix2.Identity(name=value, identity_class=identity_class, **common)
    return None


def _verdict(task: Task) -> str:
    """The verdicts agents reported (data.verdict), e.g. "osint: suspicious"; "" when none did."""
    verdicts = []
    for result in task_selectors.task_results(task=task):
        verdict = (result.data or {}).get("verdict")
        if isinstance(verdict, str | int | float) and str(verdict):
            verdicts.append(f"{result.agent}: {verdict}")
    return "; ".join(verdicts)


class _Builder:
    def __init__(self, user: User) -> None:
        self.user = user
        self.objects: dict[str, Any] = {}
        self.by_key: dict[tuple[str, str], str] = {}  # (kind, normalized) -> STIX id
        self.skipped: list[str] = []

    def add_entities(self, entities: list[CaseEntity], marking: Any) -> None:
        for entity in entities[:MAX_EXPORT_ENTITIES]:
            if (entity.kind, entity.normalized) in self.by_key:
                continue
            obj = _stix_object(entity.kind, entity.value, entity.attributes, marking)
            if obj is None:
                self.skipped.append(f"{entity.kind}:{entity.value}")
                continue
            self.objects.setdefault(obj.id, obj)
            self.by_key[(entity.kind, entity.normalized)] = obj.id

    def add_relationships(self, marking: Any) -> None:
        """Relations of the graph whose two ends are both in the bundle."""
        seen: set[tuple[str, str, str]] = set()
        for kind, normalized in list(self.by_key):
            subgraph = graph_neighbourhood(user=self.user, kind=kind, value=normalized, depth=1)
            for edge in subgraph.edges:
                source = self.by_key.get((edge.source.kind, edge.source.normalized))
                target = self.by_key.get((edge.target.kind, edge.target.normalized))
                key = (source or "", edge.type, target or "")
                if not source or not target or key in seen:
                    continue
                seen.add(key)
                relationship = stix2.Relationship(
                    source_ref=source,
                    relationship_type=edge.type.replace("_", "-").lower(),
                    target_ref=target,
                    object_marking_refs=[marking],
                )
                self.objects[relationship.id] = relationship

    def task_note(self, task: Task, marking: Any, refs: list[str]) -> Any:
        summary = task.summary or {}
        text = summary.get("text") if isinstance(summary, dict) else str(summary)
        verdict = _verdict(task)
        content = text or "No summary."
        if verdict:
            content += f"\n\nVerdict: {verdict}"
        note = stix2.Note(
            abstract=f"AMAS task {task.title}"[:250],
            content=content,
            object_refs=refs or [marking.id],
            object_marking_refs=[marking],
            external_references=[{"source_name": "amas", "external_id": str(task.pk)}],
            allow_custom=True,
            x_amas_task_status=task.status,
            x_amas_verdict=verdict,
        )
        self.objects[note.id] = note
        return note

    def bundle(
        self, *, name: str, description: str, labels: list[str], classification: str
    ) -> dict[str, Any]:
        marking = TLP_MARKINGS[classification]
        refs = [oid for oid in self.objects] or [marking.id]
        report = stix2.Report(
            name=name,
            description=description or name,
            published=datetime.now(UTC),
            report_types=["threat-report"],
            labels=labels or None,
            object_refs=refs,
            object_marking_refs=[marking],
            allow_custom=True,
            x_amas_not_exported=self.skipped[:200],
        )
        markings = {TLP_MARKINGS[level].id: TLP_MARKINGS[level] for level in TLP_MARKINGS}
        used = {m for obj in [*self.objects.values(), report] for m in obj.get("object_marking_refs", [])}
        objects = [markings[m] for m in sorted(used)] + list(self.objects.values()) + [report]
        bundle = stix2.Bundle(objects=objects, allow_custom=True)
        return json.loads(bundle.serialize())


def stix_export_task(*, user: User, task: Task) -> dict[str, Any]:
    marking = TLP_MARKINGS[task.classification]
    builder = _Builder(user)
    entities = [
        CaseEntity(e.kind, e.value, e.normalized, "task", e.attributes)
        for e in graph_task_entities(user=user, task=task)
    ]
    builder.add_entities(entities, marking)
    builder.add_relationships(marking)
    builder.task_note(task, marking, list(builder.objects))
    return builder.bundle(
        name=task.title, description=task.description, labels=[], classification=task.classification
    )


def stix_export_investigation(*, user: User, investigation: Investigation) -> dict[str, Any]:
    builder = _Builder(user)
    for task in investigation_tasks(investigation=investigation):
        marking = TLP_MARKINGS[task.classification]
        before = set(builder.objects)
        entities = [
            CaseEntity(e.kind, e.value, e.normalized, "task", e.attributes)
            for e in graph_task_entities(user=user, task=task)
        ]
        builder.add_entities(entities, marking)
        refs = [
            builder.by_key[(e.kind, e.normalized)]
            for e in entities
            if (e.kind, e.normalized) in builder.by_key
        ]
        builder.task_note(task, marking, refs or [oid for oid in builder.objects if oid not in before])
    own = TLP_MARKINGS[investigation.classification]
    imported = [e for e in investigation_entities(investigation=investigation) if e.provenance == "imported"]
    builder.add_entities(imported, own)
    builder.add_relationships(own)
    return builder.bundle(
        name=investigation.title,
        description=investigation.description,
        labels=list(investigation.tags),
        classification=investigation.classification,
    )


# --------------------------------------------------------------------------- import


def _bad(message: str, *, index: int | None, obj: Any, field: str | None) -> ValidationFailed:
    where = "bundle" if index is None else f"objects[{index}]"
    label = ""
    if isinstance(obj, dict):
        label = f" ({obj.get('type', '?')} {obj.get('id', '')})".replace(" )", ")")
    extra: dict[str, Any] = {"object": where}
    if isinstance(obj, dict) and obj.get("id"):
        extra["object_id"] = str(obj["id"])[:200]
    if field:
        extra["field"] = field
    return ValidationFailed(f"Invalid STIX bundle: {where}{label}: {message}", extra=extra)


def _error_field(exc: STIXError) -> str | None:
    if hasattr(exc, "prop_name"):
        return str(exc.prop_name)
    properties = getattr(exc, "properties", None)
    if properties:
        return ", ".join(sorted(str(p) for p in properties))
    return None


def _parse(bundle: Any) -> list[Any]:
    if not isinstance(bundle, dict):
        raise _bad("a bundle is a JSON object.", index=None, obj=None, field=None)
    if bundle.get("type") != "bundle":
        raise _bad('`type` must be "bundle".', index=None, obj=bundle, field="type")
    raw_objects = bundle.get("objects")
    if not isinstance(raw_objects, list) or not raw_objects:
        raise _bad("`objects` must be a non-empty list.", index=None, obj=bundle, field="objects")
    if len(raw_objects) > MAX_IMPORT_OBJECTS:
        raise _bad(f"more than {MAX_IMPORT_OBJECTS} objects.", index=None, obj=bundle, field="objects")
    parsed = []
    for index, raw in enumerate(raw_objects):
        if not isinstance(raw, dict):
            raise _bad("an object must be a JSON object.", index=index, obj=None, field=None)
        if raw.get("spec_version", "2.1") != "2.1" and raw.get("type") != "marking-definition":
            raise _bad("only STIX 2.1 is accepted.", index=index, obj=raw, field="spec_version")
        try:
            parsed.append(stix2.parse(raw, allow_custom=True, version="2.1"))
        except STIXError as exc:
            raise _bad(str(exc), index=index, obj=raw, field=_error_field(exc)) from None
        except (ValueError, TypeError, KeyError) as exc:
            # the library raises plain errors for some shapes (a timestamp that is not one, ...)
            raise _bad(str(exc) or exc.__class__.__name__, index=index, obj=raw, field=None) from None
    return parsed


HASH_PREFERENCE = ("SHA-256", "SHA-1", "MD5", "SHA-512")


def _observable(obj: Any) -> tuple[str, str] | None:
    """(kind, value) of an object AMAS keeps as an entity; None for everything else."""
    stix_type = obj.get("type", "")
    hint = obj.get("x_amas_kind")
    kind = {
        "domain-name": "domain",
        "ipv4-addr": "ip",
        "ipv6-addr": "ip",
        "url": "url",
        "email-addr": "email",
    }.get(stix_type)
    if kind:
        if hint == "hostname":
            kind = "hostname"
        return kind, str(obj["value"])
    if stix_type == "file":
        hashes = obj.get("hashes") or {}
        algorithm = next((a for a in HASH_PREFERENCE if a in hashes), None)
        if algorithm is None:
            return None
        kind = hint if hint in {"file", "hash", *HASH_KINDS} else ("file" if obj.get("name") else "hash")
        if kind == "file" and "SHA-256" not in hashes:
            kind = "hash"
        return kind, str(hashes["SHA-256" if kind == "file" else algorithm])
    if stix_type == "vulnerability":
        return "cve", str(obj["name"])
    if stix_type == "identity" and obj.get("identity_class") in {"organization", "individual"}:
        return ("organization" if obj["identity_class"] == "organization" else "person"), str(obj["name"])
    return None


@transaction.atomic
def stix_import(*, investigation: Investigation, by: User, bundle: Any) -> dict[str, Any]:
    """Add a bundle's observables to the investigation (provenance "imported"). Re-importing the
    same bundle adds nothing new."""
    _require_writer(by)
    objects = _parse(bundle)
    investigation = Investigation.objects.select_for_update().get(pk=investigation.pk)
    imported = skipped = 0
    strictest = investigation.classification
    observables: list[tuple[str, str, dict[str, Any]]] = []
    for obj in objects:
        for ref in obj.get("object_marking_refs", []) or []:
            level = TLP_BY_ID.get(str(ref))
            if level and Classification.rank(level) > Classification.rank(strictest):
                strictest = level
        found = _observable(obj)
        if found is None:
            continue
        kind, value = found
        _, created = InvestigationEntity.objects.get_or_create(
            investigation=investigation,
            kind=kind,
            normalized=normalize(kind, value)[:1024],
            defaults={"value": value[:1024], "source_ref": str(obj["id"])[:128]},
        )
        imported += created
        skipped += not created
        observables.append((kind, value[:1024], {"stix_id": str(obj["id"])[:128]}))
    # the organisation's knowledge graph learns them too (provenance "imported", the investigation
    # as their source), so search, neighbourhoods and later tasks' pages see them
    graph_record_imported(
        organization_id=investigation.organization_id, source_id=str(investigation.pk), entities=observables
    )
    changes: dict[str, Any] = {"imported": imported, "already_present": skipped, "objects": len(objects)}
    if strictest != investigation.classification:
        changes["classification"] = [investigation.classification, strictest]
        investigation.classification = strictest
        investigation.save(update_fields=["classification", "updated_at"])
    _timeline(investigation, by, "investigation.stix_import", **changes)
    _audit("investigation.stix_import", investigation, by, **changes)
    return {"imported": imported, "skipped": skipped}
