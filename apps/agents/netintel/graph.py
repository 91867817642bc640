"""Entities and relations an agent emits, without duplicates."""

from __future__ import annotations

from typing import Any

from apps.agents.base import Entity, Relation

INDICATOR_KINDS = {
    "ipv4": ("ip", {}),
    "ipv6": ("ip", {}),
    "domain": ("domain", {}),
    "url": ("url", {}),
    "email": ("email", {}),
    "md5": ("hash", {"algorithm": "md5"}),
    "sha1": ("hash", {"algorithm": "sha1"}),
    "sha256": ("hash", {"algorithm": "sha256"}),
    "cve": ("cve", {}),
}


class GraphBuilder:
    def __init__(self) -> None:
        self._entities: dict[tuple[str, str], Entity] = {}
        self._relations: dict[tuple[str, str, str, str, str], Relation] = {}

    def entity(self, kind: str, value: str, **attributes: Any) -> Entity:
        key = (kind, value)
        if key not in self._entities:
            self._entities[key] = Entity(kind, value, dict(attributes))
        else:
            self._entities[key].attributes.update(attributes)
        return self._entities[key]

    def relate(self, from_: Entity, type_: str, to: Entity, **attributes: Any) -> None:
        key = (from_.kind, from_.value, type_, to.kind, to.value)
        if key not in self._relations:
            self._relations[key] = Relation(from_, type_, to, dict(attributes))

    @property
    def entities(self) -> list[Entity]:
        return list(self._entities.values())

    @property
    def relations(self) -> list[Relation]:
        return list(self._relations.values())
