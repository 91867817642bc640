"""A MISP event (the JSON of MISP's event export and /events/add) from an investigation: its
entities as attributes typed as MISP types them, its TLP and tags as event tags, its status as
the event's analysis level. Built by hand (no PyMISP dependency, so not checked against MISP's
own schema); entities MISP has no type for are named in the event's comment, not dropped
silently."""

from __future__ import annotations

import uuid
from typing import Any

from apps.cases.models import Investigation
from apps.cases.selectors import investigation_entities

# AMAS kind -> (MISP attribute type, MISP category)
MISP_TYPES: dict[str, tuple[str, str]] = {
    "domain": ("domain", "Network activity"),
    "hostname": ("hostname", "Network activity"),
    "ip": ("ip-dst", "Network activity"),
    "url": ("url", "Network activity"),
    "email": ("email", "Payload delivery"),
    "md5": ("md5", "Payload delivery"),
    "sha1": ("sha1", "Payload delivery"),
    "sha256": ("sha256", "Payload delivery"),
    "sha512": ("sha512", "Payload delivery"),
    "file": ("sha256", "Payload delivery"),
    "cve": ("vulnerability", "External analysis"),
}
HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
ANALYSIS = {"open": "0", "in_progress": "1", "closed": "2"}  # initial, ongoing, completed


def _type_of(kind: str, value: str) -> tuple[str, str] | None:
    if kind == "hash":
        kind = HASH_BY_LENGTH.get(len(value.strip()), "")
    return MISP_TYPES.get(kind)


def misp_export_investigation(*, investigation: Investigation) -> dict[str, Any]:
    attributes, not_exported = [], []
    for entity in investigation_entities(investigation=investigation):
        found = _type_of(entity.kind, entity.value)
        if found is None:
            not_exported.append(f"{entity.kind}:{entity.value}")
            continue
        misp_type, category = found
        attributes.append(
            {
                # stable across exports, so a re-import into MISP updates instead of duplicating
                "uuid": str(uuid.uuid5(investigation.pk, f"{entity.kind}:{entity.normalized}")),
                "type": misp_type,
                "category": category,
                "value": entity.value,
                "to_ids": False,
                "comment": f"AMAS {entity.provenance}",
            }
        )
    tags = [{"name": f"tlp:{investigation.classification}"}] + [{"name": t} for t in investigation.tags]
    comment = "Not exported (no MISP type): " + ", ".join(not_exported[:50]) if not_exported else ""
    return {
        "Event": {
            "uuid": str(investigation.pk),
            "info": investigation.title,
            "date": investigation.created_at.date().isoformat(),
            "threat_level_id": "4",  # undefined: AMAS does not rate investigations
            "analysis": ANALYSIS.get(investigation.status, "0"),
            "distribution": "0",  # your organisation only; widen it in MISP
            "published": False,
            "Tag": tags,
            "Attribute": attributes,
            "Object": [],
            "extends_uuid": "",
            "Orgc": {"name": investigation.organization.name},
            "comment": comment[:2000],
        }
    }
