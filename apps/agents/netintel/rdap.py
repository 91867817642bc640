"""Registration data over RDAP (RFC 9083 JSON): registrar, dates, status, name servers."""

from __future__ import annotations

import json
from typing import Any

from apps.core.egress import EgressError, egress_get

ACCEPT = {"Accept": "application/rdap+json, application/json"}


def _vcard_name(entity: dict[str, Any]) -> str | None:
    vcard = entity.get("vcardArray")
    if not (isinstance(vcard, list) and len(vcard) == 2):
        return None
    for item in vcard[1]:
        if isinstance(item, list) and len(item) >= 4 and item[0] in ("fn", "org"):
            return str(item[3])
    return None


def _vcard_email(entity: dict[str, Any]) -> str | None:
    vcard = entity.get("vcardArray")
    if isinstance(vcard, list) and len(vcard) == 2:
        for item in vcard[1]:
            if isinstance(item, list) and len(item) >= 4 and item[0] == "email":
                return str(item[3])
    return None


def _entities_with(doc: dict[str, Any], role: str) -> list[dict[str, Any]]:
    found = []
    for entity in doc.get("entities") or []:
        if role in (entity.get("roles") or []):
            found.append(entity)
        found += _entities_with(entity, role)
    return found


def _events(doc: dict[str, Any]) -> dict[str, str]:
    return {
        e["eventAction"]: e["eventDate"]
        for e in doc.get("events") or []
        if isinstance(e, dict) and "eventAction" in e and "eventDate" in e
    }


def _get(url: str, *, task_id: object, timeout: float) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    response = egress_get(url, headers=ACCEPT, task_id=task_id, timeout=timeout, max_bytes=1_000_000)
    meta = {"url": url, "final_url": response.url, "status": response.status_code}
    if response.status_code == 404:
        return None, {**meta, "found": False}
    if response.status_code != 200:
        raise EgressError(f"RDAP server answered {response.status_code} for {url}")
    try:
        return json.loads(response.content), {**meta, "found": True}
    except ValueError:
        raise EgressError(f"RDAP server sent no JSON for {url}") from None


def rdap_domain(
    base_url: str, domain: str, *, task_id: object = None, timeout: float = 15.0
) -> dict[str, Any]:
    doc, meta = _get(f"{base_url.rstrip('/')}/domain/{domain}", task_id=task_id, timeout=timeout)
    if doc is None:
        return meta
    registrar = next(iter(_entities_with(doc, "registrar")), {})
    abuse = next(iter(_entities_with(registrar, "abuse")), {}) if registrar else {}
    events = _events(doc)
    iana_id = next(
        (
            p.get("identifier")
            for p in registrar.get("publicIds") or []
            if p.get("type") == "IANA Registrar ID"
        ),
        None,
    )
    return {
        **meta,
        "domain": (doc.get("ldhName") or domain).lower(),
        "handle": doc.get("handle"),
        "registrar": _vcard_name(registrar) if registrar else None,
        "registrar_iana_id": iana_id,
        "abuse_email": _vcard_email(abuse) if abuse else None,
        "status": doc.get("status") or [],
        "registered": events.get("registration"),
        "expires": events.get("expiration"),
        "updated": events.get("last changed"),
        "nameservers": sorted(
            (ns.get("ldhName") or "").lower().rstrip(".") for ns in doc.get("nameservers") or []
        ),
    }


def rdap_ip(base_url: str, ip: str, *, task_id: object = None, timeout: float = 15.0) -> dict[str, Any]:
    doc, meta = _get(f"{base_url.rstrip('/')}/ip/{ip}", task_id=task_id, timeout=timeout)
    if doc is None:
        return meta
    registrant = next(iter(_entities_with(doc, "registrant")), {})
    events = _events(doc)
    return {
        **meta,
        "handle": doc.get("handle"),
        "name": doc.get("name"),
        "type": doc.get("type"),
        "country": doc.get("country"),
        "start_address": doc.get("startAddress"),
        "end_address": doc.get("endAddress"),
        "cidrs": [
            f"{c.get('v4prefix') or c.get('v6prefix')}/{c.get('length')}"
            for c in doc.get("cidr0_cidrs") or []
        ],
        "organization": _vcard_name(registrant) if registrant else None,
        "registered": events.get("registration"),
        "updated": events.get("last changed"),
        "status": doc.get("status") or [],
    }
