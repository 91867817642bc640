"""The investigation and playbook pages (apps/dashboard/views/cases.py, playbooks.py) through
Django's test client: who may read and write them per organisation and role, the list's filters,
every write through the services, and refused input answered with 422 and the message next to
the field it concerns."""

import json
import re
from http import HTTPStatus

import pytest
import stix2

from apps.audit.models import AuditEvent
from apps.cases.models import Comment, Investigation
from apps.cases.playbooks import playbook_create
from apps.cases.services import comment_create, investigation_add_task, investigation_create
from apps.knowledge.graph.selectors import graph_entity_search
from apps.users.models import Role
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_task
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str) -> dict[str, str]:
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture
def admin(user_factory):
    return user_factory(role=Role.ADMIN)


@pytest.fixture
def case(analyst):
    return investigation_create(user=analyst, title="Phishing wave", tags=["phishing"])


def signed_in(client, user):
    """Admins sign in with their second factor, as they must; others by session."""
    if user.role == Role.ADMIN:
        return login(client, user, secret=enable_totp(user))
    client.force_login(user)
    return client


# ----------------------------------------------------------------------------- authorisation


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST, Role.ADMIN])
def test_every_member_reads_the_pages(client, user_factory, case, role):
    signed_in(client, user_factory(role=role))
    for url in (
        "/investigations/",
        f"/investigations/{case.pk}/",
        f"/investigations/{case.pk}/stix.json",
        "/playbooks/",
    ):
        assert client.get(url).status_code == HTTPStatus.OK, url
    page = client.get(f"/investigations/{case.pk}/").content.decode()
    assert "Phishing wave" in page
    # a viewer gets no forms; analysts and admins do
    assert ('id="case-comment-form"' in page) is (role != Role.VIEWER)
    assert ("New investigation" in client.get("/investigations/").content.decode()) is (role != Role.VIEWER)
    misp = f"/api/v1/investigations/{case.pk}/misp"
    assert f'href="{misp}"' in page and client.get(misp).status_code == HTTPStatus.OK


def test_a_viewer_is_refused_every_write(client, user_factory, case):
    signed_in(client, user_factory(role=Role.VIEWER))
    writes = {
        "/investigations/new/": {"title": "x", "classification": "amber"},
        f"/investigations/{case.pk}/edit/": {"status": "closed", "classification": "red"},
        f"/investigations/{case.pk}/tags/": {"tag": "x"},
        f"/investigations/{case.pk}/comments/": {"body": "hello"},
        f"/investigations/{case.pk}/tasks/new/": {"target": "example.org", "task_type": "custom"},
        f"/investigations/{case.pk}/stix/": {},
    }
    for url, body in writes.items():
        assert client.post(url, body).status_code == HTTPStatus.FORBIDDEN, url
    assert client.get("/investigations/new/").status_code == HTTPStatus.FORBIDDEN
    case.refresh_from_db()
    assert case.status == "open" and case.tags == ["phishing"]
    assert not Comment.objects.exists()


def test_another_organisation_gets_not_found(client, user_factory, case):
    other = user_factory(role=Role.ADMIN, org=organization_get_or_create(name="Org B"))
    signed_in(client, other)
    for url in (f"/investigations/{case.pk}/", f"/investigations/{case.pk}/stix.json"):
        assert client.get(url).status_code == HTTPStatus.NOT_FOUND
    response = client.post(f"/investigations/{case.pk}/comments/", {"body": "mine now"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Phishing wave" not in client.get("/investigations/").content.decode()


def test_anonymous_is_sent_to_sign_in(client, case):
    response = client.get(f"/investigations/{case.pk}/")
    assert response.status_code == HTTPStatus.FOUND and "/accounts/login/" in response["Location"]


# ------------------------------------------------------------------------------------- list


def test_the_list_filters_by_status_tag_assignee_and_searches_comments(client, analyst, user_factory):
    colleague = user_factory()
    a = investigation_create(user=analyst, title="Alpha", tags=["apt:29"], assignee_ids=[colleague.pk])
    b = investigation_create(user=analyst, title="Bravo")
    comment_create(by=analyst, body="the dropper beacons to evil.example", investigation=b)
    signed_in(client, analyst)

    def titles(query: str, **headers) -> set[str]:
        page = client.get(f"/investigations/?{query}", **headers).content.decode()
        return {t for t in ("Alpha", "Bravo") if t in page}

    assert titles("") == {"Alpha", "Bravo"}
    assert titles("tag=APT:29") == {"Alpha"}
    assert titles(f"assignee={colleague.pk}") == {"Alpha"}
    assert titles("q=beacons") == {"Bravo"}  # found by its comment
    assert titles("q=APT:29") == {"Alpha"}  # and by a tag
    assert titles("status=closed") == set()
    # htmx asks for the results only
    partial = client.get("/investigations/?q=beacons", **htmx("case-results")).content.decode()
    assert "Bravo" in partial and "<html" not in partial
    assert a.pk and b.pk


# ------------------------------------------------------------------------------------ writes


def test_an_analyst_creates_comments_tags_and_edits(client, analyst, user_factory, case):
    colleague = user_factory(email="alice@example.org")
    signed_in(client, analyst)
    created = client.post(
        "/investigations/new/", {"title": "New case", "classification": "green", "tags": "a, b"}
    )
    assert created.status_code == HTTPStatus.FOUND
    new = Investigation.objects.get(title="New case")
    assert created["Location"] == f"/investigations/{new.pk}/" and new.tags == ["a", "b"]

    response = client.post(
        f"/investigations/{case.pk}/comments/",
        {"body": "@alice@example.org look at this"},
        **htmx("case-comment-form"),
    )
    assert response.status_code == HTTPStatus.OK
    assert "amas:case-changed" in response["HX-Trigger"]  # the other sections re-read
    comment = Comment.objects.get(investigation=case)
    assert list(comment.mentions.all()) == [colleague]

    client.post(f"/investigations/{case.pk}/tags/", {"tag": "urgent"}, **htmx("case-edit"))
    client.post(f"/investigations/{case.pk}/tags/", {"remove": "phishing"}, **htmx("case-edit"))
    client.post(
        f"/investigations/{case.pk}/edit/",
        {"status": "in_progress", "classification": "red", "assignees": [colleague.pk]},
        **htmx("case-edit"),
    )
    case.refresh_from_db()
    assert case.tags == ["urgent"] and case.status == "in_progress" and case.classification == "red"
    assert list(case.assignees.all()) == [colleague]
    page = client.get(f"/investigations/{case.pk}/").content.decode()
    assert "mentioning alice@example.org" in page and "status open → in_progress" in page
    kinds = set(AuditEvent.objects.filter(entity_id=str(case.pk)).values_list("event_type", flat=True))
    assert {"comment.create", "investigation.update"} <= kinds


def test_an_admin_writes_too(client, admin, case):
    signed_in(client, admin)
    response = client.post(f"/investigations/{case.pk}/comments/", {"body": "admin was here"})
    assert response.status_code == HTTPStatus.FOUND
    assert Comment.objects.filter(investigation=case, author=admin).exists()


def test_a_tlp_below_a_member_task_is_refused_at_the_field(client, analyst, case):
    task = make_task(analyst.organization, user=analyst, classification="red")
    investigation_add_task(investigation=case, task=task, by=analyst)
    signed_in(client, analyst)
    response = client.post(
        f"/investigations/{case.pk}/edit/", {"status": "open", "classification": "green"}, **htmx("case-edit")
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    page = response.content.decode()
    assert 'id="id_classification_error"' in page and "below the TLP of a task" in page
    assert 'aria-invalid="true"' in page
    case.refresh_from_db()
    assert case.classification == "red"


def test_a_comment_over_the_limit_is_refused_at_the_field(client, analyst, case):
    signed_in(client, analyst)
    response = client.post(
        f"/investigations/{case.pk}/comments/", {"body": "x" * 10_001}, **htmx("case-comment-form")
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    page = response.content.decode()
    assert 'id="id_body_error"' in page and "10001 characters long; the limit is 10000" in page
    assert not Comment.objects.exists()


def test_an_unknown_playbook_is_refused_at_the_field(client, analyst, case):
    signed_in(client, analyst)
    response = client.post(
        f"/investigations/{case.pk}/tasks/new/",
        {"playbook": "nope", "target": "example.org", "task_type": "custom", "classification": "amber"},
        **htmx("case-task-form"),
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "No playbook named &#x27;nope&#x27;" in response.content.decode()
    assert 'id="id_playbook_error"' in response.content.decode()
    # the New task form's picker says the same
    picker = client.get("/tasks/new/?playbook=nope")
    assert picker.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "No active playbook named &#x27;nope&#x27;" in picker.content.decode()


def test_an_existing_task_joins_and_an_unknown_one_is_refused_at_the_field(client, analyst, case):
    signed_in(client, analyst)
    task = make_task(analyst.organization, user=analyst, title="earlier hunt")
    joined = client.post(f"/investigations/{case.pk}/tasks/add/", {"task_id": str(task.pk)})
    assert joined.status_code == HTTPStatus.FOUND
    assert list(case.memberships.values_list("task_id", flat=True)) == [task.pk]

    elsewhere = make_task(organization_get_or_create(name="Elsewhere"), title="their hunt")
    for task_id in (str(elsewhere.pk), "00000000-0000-4000-8000-000000000000"):
        refused = client.post(
            f"/investigations/{case.pk}/tasks/add/", {"task_id": task_id}, **htmx("case-task-form")
        )
        assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
        page = refused.content.decode()
        assert 'id="id_task_id_error"' in page and "No task with this id in your organisation." in page
        assert 'aria-invalid="true"' in page
    assert list(case.memberships.values_list("task_id", flat=True)) == [task.pk]


def test_a_task_and_a_playbook_run_join_the_investigation(client, analyst, admin, case):
    playbook_create(
        user=admin,
        name="echo",
        task_type="custom",
        agents=["test_echo"],
        parameters={"test_echo": {"words": 1}},
    )
    signed_in(client, analyst)
    ran = client.post(
        f"/investigations/{case.pk}/tasks/new/",
        {
            "playbook": "echo",
            "target": "example.org",
            "classification": "amber",
            "task_type": "investigation",
        },
    )
    assert ran.status_code == HTTPStatus.FOUND
    planned = client.post(
        f"/investigations/{case.pk}/tasks/new/",
        {"target": "example.org", "task_type": "investigation", "title": "auto", "classification": "amber"},
    )
    assert planned.status_code == HTTPStatus.FOUND, re.findall(r"error.{0,300}", planned.content.decode())
    tasks = {m.task.title: m.task for m in case.memberships.select_related("task")}
    run = tasks["echo v1: example.org"]
    assert run.requested_agents == ["test_echo"] and run.parameters == {"test_echo": {"words": 1}}
    assert tasks["auto"].requested_agents == [] and tasks["auto"].task_type == "investigation"
    custom = client.post(
        f"/investigations/{case.pk}/tasks/new/",
        {"target": "example.org", "task_type": "custom", "classification": "amber"},
        **htmx("case-task-form"),
    )
    assert custom.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert 'id="id_task_type_error"' in custom.content.decode()


def test_follow_up_from_an_entity_keeps_its_origin(client, analyst, case):
    from apps.cases.models import InvestigationTask

    origin = make_task(analyst.organization, user=analyst, task_type="custom", title="origin")
    investigation_add_task(investigation=case, task=origin, by=analyst)
    signed_in(client, analyst)
    response = client.post(
        f"/investigations/{case.pk}/follow-up/",
        {"origin_task_id": str(origin.pk), "kind": "domain", "value": "evil.example"},
        **htmx("case-entities"),
    )
    assert response.status_code == HTTPStatus.OK, response.content[:500]
    follow = InvestigationTask.objects.get(origin_task=origin)
    assert follow.origin_entity_value == "evil.example" and follow.task.target == "evil.example"
    bad = client.post(
        f"/investigations/{case.pk}/follow-up/",
        {"origin_task_id": "not-a-uuid", "kind": "domain", "value": "x"},
        **htmx("case-entities"),
    )
    assert (
        bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "data-follow-up-error" in bad.content.decode()
    )


# -------------------------------------------------------------------------------------- STIX


def upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/json")


def test_export_downloads_a_valid_bundle_and_import_fills_the_graph(client, analyst, case):
    signed_in(client, analyst)
    bundle = {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            {
                "type": "domain-name",
                "spec_version": "2.1",
                "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
                "value": "imported.example",
            }
        ],
    }
    response = client.post(
        f"/investigations/{case.pk}/stix/",
        {"bundle": upload("b.json", json.dumps(bundle).encode())},
        **htmx("case-stix"),
    )
    assert response.status_code == HTTPStatus.OK, response.content[:500]
    assert "Imported 1 observable" in response.content.decode()
    # the organisation's knowledge graph has it, with provenance "imported"
    found = graph_entity_search(user=analyst, prefix="imported.ex")
    assert [(e.kind, e.normalized) for e in found] == [("domain", "imported.example")]
    page = client.get(f"/investigations/{case.pk}/").content.decode()
    assert "imported.example" in page and ">imported</span>" in page

    exported = client.get(f"/investigations/{case.pk}/stix.json")
    assert exported["Content-Disposition"].startswith("attachment;")
    parsed = stix2.parse(exported.content.decode(), allow_custom=True)
    assert "imported.example" in {o.get("value") for o in parsed.objects}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "Not a JSON file"),
        (json.dumps({"type": "bundle", "objects": []}).encode(), "`objects` must be a non-empty list"),
        (
            json.dumps(
                {
                    "type": "bundle",
                    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                    "objects": [
                        {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--x", "value": "1.2.3.4"}
                    ],
                }
            ).encode(),
            "field id",
        ),
    ],
)
def test_a_bad_bundle_is_refused_at_the_file_field(client, analyst, case, content, says):
    signed_in(client, analyst)
    response = client.post(
        f"/investigations/{case.pk}/stix/", {"bundle": upload("bad.json", content)}, **htmx("case-stix")
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    page = response.content.decode()
    assert 'id="id_bundle_error"' in page and says.replace("`", "") in page.replace("`", "")
    assert not case.entities.exists()


# --------------------------------------------------------------------------------- playbooks


def test_the_playbook_page_shows_its_plan_next_to_the_engines(client, analyst, admin):
    playbook_create(user=admin, name="echo", task_type="custom", agents=["test_echo_two"])
    signed_in(client, analyst)
    page = client.get("/playbooks/echo/?target=example.org&classification=amber").content.decode()
    playbook_part = page.split('data-plan="playbook"')[1].split('data-plan="engine"')[0]
    engine_part = page.split('data-plan="engine"')[1]
    assert "Echo two" in playbook_part or "test_echo_two" in playbook_part
    assert "data-plan-steps" in engine_part
    assert client.get("/playbooks/nope/").status_code == HTTPStatus.NOT_FOUND


def test_choosing_a_playbook_fills_the_new_task_form(client, analyst, admin):
    playbook_create(
        user=admin,
        name="echo",
        task_type="custom",
        agents=["test_echo"],
        parameters={"test_echo": {"words": 7}},
    )
    signed_in(client, analyst)
    response = client.get("/tasks/new/?playbook=echo", **htmx("task-form"))
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert '<option value="custom" selected>' in page
    inputs = re.findall(r"<input[^>]*>", page)
    checked = {m.group(1) for i in inputs if " checked" in i and (m := re.search(r"value=\"([^\"]*)\"", i))}
    assert {"manual", "test_echo"} <= checked and "test_echo_two" not in checked
    assert any('name="param-test_echo-words" value="7"' in i for i in inputs)
