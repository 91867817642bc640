"""An investigation as a MISP event: its entities as typed attributes, TLP and tags as event
tags, status as the analysis level; kinds MISP has no type for are named, not dropped."""

import uuid
from http import HTTPStatus

import pytest

from apps.cases.services import investigation_create
from apps.cases.stix import stix_import

pytestmark = pytest.mark.django_db

SHA256 = "a" * 64


def sco(kind: str, n: int, **fields) -> dict:
    return {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uuid.uuid4()}", **fields}


def test_the_misp_event_of_an_investigation(api):
    case = investigation_create(user=api.user, title="Wave", classification="green", tags=["phishing"])
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [
            sco("domain-name", 1, value="evil.example"),
            sco("ipv4-addr", 2, value="203.0.113.7"),
            sco("file", 3, hashes={"SHA-256": SHA256}),
            {
                "type": "identity",
                "spec_version": "2.1",
                "id": f"identity--{uuid.uuid4()}",
                "created": "2026-01-01T00:00:00Z",
                "modified": "2026-01-01T00:00:00Z",
                "name": "ACME",
                "identity_class": "organization",
            },
        ],
    }
    stix_import(investigation=case, by=api.user, bundle=bundle)
    response = api.get(f"/api/v1/investigations/{case.pk}/misp")
    assert response.status_code == HTTPStatus.OK, response.content
    event = response.json()["Event"]
    assert event["uuid"] == str(case.pk) and event["info"] == "Wave" and event["analysis"] == "0"
    assert {t["name"] for t in event["Tag"]} == {"tlp:green", "phishing"}
    typed = {(a["type"], a["category"], a["value"]) for a in event["Attribute"]}
    assert typed == {
        ("domain", "Network activity", "evil.example"),
        ("ip-dst", "Network activity", "203.0.113.7"),
        ("sha256", "Payload delivery", SHA256),
    }
    assert "organization:ACME" in event["comment"]
    again = api.get(f"/api/v1/investigations/{case.pk}/misp").json()["Event"]
    assert {a["uuid"] for a in again["Attribute"]} == {a["uuid"] for a in event["Attribute"]}  # stable
