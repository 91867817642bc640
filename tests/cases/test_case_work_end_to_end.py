"""Case work end to end on a real Celery worker: an investigation, a playbook (OSINT) run on a
target inside it against local DNS and RDAP servers, a follow-up launched from an entity it
found, a comment, the STIX 2.1 export parsed back with the OASIS `stix2` library, and the
bundle re-imported into a second investigation whose entities are compared with the first's."""

import time
from http import HTTPStatus

import pytest
import stix2
from django.test import override_settings

from apps.cases.models import InvestigationTask
from apps.cases.playbooks import playbook_create
from apps.tasks.models import TERMINAL_STATUSES, Task
from apps.users.models import Role
from tests.agents.servers import Reply, dns_server, http_server
from tests.agents.test_osint_agent import RDAP_DOMAIN
from tests.cases.conftest import post

pytestmark = pytest.mark.django_db(transaction=True)

ZONE = """
example.org. 300 IN A 93.184.216.34
example.org. 300 IN MX 10 mail.example.org.
shop.example.org. 300 IN A 127.0.0.1
"""
# Kinds a STIX bundle can carry (apps/cases/stix.py); others are listed as not exported.
STIX_KINDS = {"domain", "hostname", "ip", "url", "email", "file", "hash", "cve", "organization", "person"}


@pytest.fixture
def internet():
    rdap = {"/domain/example.org": Reply.json(RDAP_DOMAIN, content_type="application/rdap+json")}
    with (
        dns_server(ZONE) as (resolver, _),
        http_server(rdap) as rdap_server,
        override_settings(
            AMAS_EGRESS_ALLOWLIST=["127.0.0.1"],
            AMAS_EGRESS_RESOLVERS=[resolver],
            AMAS_DNS_RESOLVERS_ALLOWED=[resolver],
        ),
    ):
        yield {"resolver": resolver, "rdap": rdap_server.url("").rstrip("/")}


def wait(task_id, timeout=60.0) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = Task.objects.get(pk=task_id)
        if task.status in TERMINAL_STATUSES:
            return task
        assert time.monotonic() < deadline, f"task stayed {task.status}"
        time.sleep(0.1)


def entity_keys(api, investigation_id) -> dict[tuple[str, str], str]:
    response = api.get(f"/api/v1/investigations/{investigation_id}/entities")
    assert response.status_code == HTTPStatus.OK, response.content
    return {(e["kind"], e["normalized"]): e["provenance"] for e in response.json()}


def test_investigation_playbook_follow_up_comment_stix_round_trip(api, celery_worker, internet, user_factory):
    colleague = user_factory(email="carol@team.example")
    case = post(api, "/investigations", {"title": "example.org infra", "tags": ["infra"]}).json()
    playbook_create(
        user=user_factory(role=Role.ADMIN),
        name="osint-domain",
        task_type="investigation",
        agents=["osint"],
        parameters={"osint": {"resolvers": [internet["resolver"]], "rdap_base_url": internet["rdap"]}},
        condition_target_kinds=["domain"],
    )
    body = {"target": "example.org", "title": "who is example.org", "investigation_id": case["id"]}
    created = post(api, "/playbooks/osint-domain/run", body)
    assert created.status_code == HTTPStatus.CREATED, created.content
    task = wait(created.json()["id"])
    assert task.status == "completed", task.error_message

    found = entity_keys(api, case["id"])
    assert found[("domain", "example.org")] == "task"
    assert found[("ip", "93.184.216.34")] == "task"

    follow_up = post(
        api,
        f"/investigations/{case['id']}/follow-ups",
        {"origin_task_id": str(task.pk), "kind": "domain", "value": "shop.example.org", "agents": ["osint"]},
    )
    assert follow_up.status_code == HTTPStatus.CREATED, follow_up.content
    membership = InvestigationTask.objects.get(task_id=follow_up.json()["id"])
    assert (membership.investigation_id.hex, membership.origin_task_id) == (
        case["id"].replace("-", ""),
        task.pk,
    )
    assert (membership.origin_entity_kind, membership.origin_entity_value) == ("domain", "shop.example.org")
    assert follow_up.json()["target"] == "shop.example.org"
    wait(follow_up.json()["id"])

    comment = post(api, f"/investigations/{case['id']}/comments", {"body": "@carol@team.example A is benign"})
    assert comment.json()["mentions"] == [colleague.email]

    exported = api.get(f"/api/v1/investigations/{case['id']}/stix")
    assert exported.status_code == HTTPStatus.OK, exported.content
    bundle = stix2.parse(exported.json(), allow_custom=True, version="2.1")
    by_type: dict[str, list] = {}
    for obj in bundle.objects:
        by_type.setdefault(obj.type, []).append(obj)
    assert "example.org" in {d.value for d in by_type["domain-name"]}
    assert "93.184.216.34" in {a.value for a in by_type["ipv4-addr"]}
    ids = {obj.id: obj for obj in bundle.objects}
    resolves = [
        (ids[r.source_ref].value, ids[r.target_ref].value)
        for r in by_type["relationship"]
        if r.relationship_type == "resolves-to"
    ]
    assert ("example.org", "93.184.216.34") in resolves
    (report,) = by_type["report"]
    assert report.name == "example.org infra" and report.labels == ["infra"]
    notes = {n.external_references[0].external_id: n for n in by_type["note"]}
    assert notes[str(task.pk)].content.startswith(task.summary["text"][:40])
    assert {m.id for m in by_type["marking-definition"]} == {stix2.TLP_AMBER.id}
    assert all(
        stix2.TLP_AMBER.id in obj.object_marking_refs
        for obj in bundle.objects
        if obj.type != "marking-definition"
    )

    task_bundle = stix2.parse(api.get(f"/api/v1/tasks/{task.pk}/stix").json(), allow_custom=True)
    assert "example.org" in {o.value for o in task_bundle.objects if o.type == "domain-name"}
    assert [o.name for o in task_bundle.objects if o.type == "report"] == ["who is example.org"]

    second = post(api, "/investigations", {"title": "imported", "classification": "clear"}).json()
    imported = post(api, f"/investigations/{second['id']}/stix", exported.json())
    assert imported.status_code == HTTPStatus.OK, imported.content
    exportable = {key for key in entity_keys(api, case["id"]) if key[0] in STIX_KINDS}
    again = entity_keys(api, second["id"])
    assert set(again) == exportable
    assert set(again.values()) == {"imported"}
    assert imported.json()["imported"] == len(exportable)
    # the bundle's TLP:AMBER markings raised the clear investigation
    assert api.get(f"/api/v1/investigations/{second['id']}").json()["classification"] == "amber"
    # importing the same bundle again adds nothing
    assert post(api, f"/investigations/{second['id']}/stix", exported.json()).json()["imported"] == 0
