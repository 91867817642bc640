"""A bad STIX bundle is a 422 that names the object (index, type, id) and the field; nothing of
it is imported."""

from http import HTTPStatus

import pytest

from apps.cases.services import investigation_create
from tests.cases.conftest import post

pytestmark = pytest.mark.django_db

DOMAIN_ID = "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5"


def bundle(*objects):
    return {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": list(objects)}


GOOD = {"type": "domain-name", "spec_version": "2.1", "id": DOMAIN_ID, "value": "good.example"}


@pytest.mark.parametrize(
    ("payload", "where", "field"),
    [
        ({"type": "not-a-bundle"}, "bundle", "type"),
        (bundle(), "bundle", "objects"),
        (
            bundle(GOOD, {"type": "domain-name", "spec_version": "2.1", "id": DOMAIN_ID}),
            "objects[1]",
            "value",
        ),
        (
            bundle({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--x", "value": "1.2.3.4"}),
            "objects[0]",
            "id",
        ),
        (
            bundle(
                {
                    "type": "relationship",
                    "spec_version": "2.1",
                    "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
                    "created": "2024-01-01T00:00:00Z",
                    "modified": "2024-01-01T00:00:00Z",
                    "relationship_type": "resolves-to",
                    "source_ref": DOMAIN_ID,
                }
            ),
            "objects[0]",
            "target_ref",
        ),
        (bundle("just a string"), "objects[0]", None),
    ],
)
def test_bad_bundles_are_named(api, payload, where, field):
    case = investigation_create(user=api.user, title="target")
    response = post(api, f"/investigations/{case.pk}/stix", payload)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, response.content
    answer = response.json()
    assert answer["object"] == where and where in answer["detail"]
    assert answer.get("field") == field
    assert case.entities.count() == 0


def test_a_good_bundle_imports_its_observables(api):
    case = investigation_create(user=api.user, title="target")
    response = post(api, f"/investigations/{case.pk}/stix", bundle(GOOD))
    assert response.status_code == HTTPStatus.OK, response.content
    assert [(e["kind"], e["value"], e["provenance"]) for e in response.json()["entities"]] == [
        ("domain", "good.example", "imported")
    ]
