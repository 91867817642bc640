"""Investigations through the API: create, filter by tag and status, add tasks (the TLP rises to
the strictest task and cannot be lowered below it), comments with mentions, task tags, the
timeline and the audit trail."""

from http import HTTPStatus

import pytest

from apps.audit.models import AuditEvent
from apps.cases.models import COMMENT_MAX_CHARS
from apps.users.models import Role
from apps.users.services import organization_get_or_create
from tests.cases.conftest import patch, post
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db


def create(api, **body):
    response = post(api, "/investigations", {"title": "Phishing wave", **body})
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()


def test_create_and_filter_by_tag_and_status(api, user_factory):
    colleague = user_factory()
    first = create(api, tags=["Phishing", "apt-29"], assignees=[colleague.pk])
    create(api, title="Other", tags=["ransomware"])
    patch(api, f"/investigations/{first['id']}", {"status": "in_progress"})
    outsider = user_factory(org=organization_get_or_create(name="Elsewhere"))
    outsider_case = create_for(outsider, tags=["phishing"])

    def titles(query: str) -> list[str]:
        response = api.get(f"/api/v1/investigations?{query}")
        assert response.status_code == HTTPStatus.OK, response.content
        return sorted(i["title"] for i in response.json()["items"])

    assert first["tags"] == ["phishing", "apt-29"]
    assert first["assignees"] == [{"id": colleague.pk, "email": colleague.email}]
    assert titles("") == ["Other", "Phishing wave"]
    assert titles("tag=phishing") == ["Phishing wave"]
    assert titles("status=in_progress") == ["Phishing wave"]
    assert titles("status=open") == ["Other"]
    post(api, f"/investigations/{first['id']}/comments", {"body": "C2 at evil.example"})
    post(api, f"/investigations/{first['id']}/comments", {"body": "more on evil.example"})
    assert titles("q=evil.example") == ["Phishing wave"]
    assert api.get(f"/api/v1/investigations/{outsider_case.pk}").status_code == HTTPStatus.NOT_FOUND


def create_for(user, **fields):
    from apps.cases.services import investigation_create

    return investigation_create(user=user, title="theirs", **fields)


def test_tlp_rises_with_a_stricter_task_and_cannot_go_below_it(api):
    case = create(api, classification="green")
    red = make_task(api.user.organization, user=api.user, classification="red")

    response = post(api, f"/investigations/{case['id']}/tasks", {"task_id": str(red.pk)})
    assert response.status_code == HTTPStatus.OK, response.content
    assert api.get(f"/api/v1/investigations/{case['id']}").json()["classification"] == "red"

    lowered = patch(api, f"/investigations/{case['id']}", {"classification": "amber"})
    assert lowered.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert lowered.json()["field"] == "classification" and "'red'" in lowered.json()["detail"]
    assert api.get(f"/api/v1/investigations/{case['id']}").json()["classification"] == "red"


def test_a_task_created_inside_an_investigation_is_a_member(api):
    case = create(api, classification="clear")
    body = {"title": "scan", "task_type": "custom", "agents": ["test_echo"], "classification": "amber"}
    response = post(api, f"/investigations/{case['id']}/tasks/new", body)
    assert response.status_code == HTTPStatus.CREATED, response.content
    members = api.get(f"/api/v1/investigations/{case['id']}/tasks").json()["items"]
    assert [m["id"] for m in members] == [response.json()["id"]]
    assert api.get(f"/api/v1/investigations/{case['id']}").json()["classification"] == "amber"


def test_a_task_of_another_investigation_is_a_conflict(api):
    first, second = create(api), create(api, title="second")
    task = make_task(api.user.organization, user=api.user)
    assert post(api, f"/investigations/{first['id']}/tasks", {"task_id": str(task.pk)}).status_code == 200
    again = post(api, f"/investigations/{second['id']}/tasks", {"task_id": str(task.pk)})
    assert again.status_code == HTTPStatus.CONFLICT


def test_comments_mention_members_of_the_organisation_only(api, user_factory):
    case = create(api)
    colleague = user_factory(email="alice@team.example")
    user_factory(org=organization_get_or_create(name="Far"), email="bob@far.example")
    body = "Look at this @alice@team.example and @bob@far.example, mail me at x@y.example"

    response = post(api, f"/investigations/{case['id']}/comments", {"body": body})
    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["mentions"] == [colleague.email]
    listed = api.get(f"/api/v1/investigations/{case['id']}/comments").json()["items"]
    assert [c["body"] for c in listed] == [body]


def test_a_comment_over_the_size_limit_is_refused(api):
    case = create(api)
    response = post(api, f"/investigations/{case['id']}/comments", {"body": "x" * (COMMENT_MAX_CHARS + 1)})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["field"] == "body" and str(COMMENT_MAX_CHARS) in response.json()["detail"]
    assert api.get(f"/api/v1/investigations/{case['id']}/comments").json()["count"] == 0


def test_task_tags_and_comments(api):
    task = make_task(api.user.organization, user=api.user, title="tagged one")
    make_task(api.user.organization, user=api.user, title="untagged")
    response = api.put(
        f"/api/v1/tasks/{task.pk}/tags", {"tags": ["Triage", "triage", "c2"]}, content_type="application/json"
    )
    assert response.json() == {"tags": ["triage", "c2"]}
    tagged = api.get("/api/v1/tagged/tasks?tag=triage").json()["items"]
    assert [t["title"] for t in tagged] == ["tagged one"]
    bad = api.put(f"/api/v1/tasks/{task.pk}/tags", {"tags": ["no spaces"]}, content_type="application/json")
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and bad.json()["field"] == "tags"
    assert post(api, f"/tasks/{task.pk}/comments", {"body": "benign"}).status_code == HTTPStatus.CREATED
    assert [c["body"] for c in api.get(f"/api/v1/tasks/{task.pk}/comments").json()["items"]] == ["benign"]


def test_task_lists_filter_by_tag_and_find_comments_and_tags(api, user_factory):
    """The task list itself (API and dashboard), not only /tagged/tasks, knows the case layer's
    tags and comments, and only the user's organisation's."""
    tagged = make_task(api.user.organization, user=api.user, title="tagged one")
    commented = make_task(api.user.organization, user=api.user, title="commented one")
    make_task(api.user.organization, user=api.user, title="plain")
    api.put(f"/api/v1/tasks/{tagged.pk}/tags", {"tags": ["beacon"]}, content_type="application/json")
    post(api, f"/tasks/{commented.pk}/comments", {"body": "Seen talking to evil.example at night"})
    outsider = user_factory(org=organization_get_or_create(name="Elsewhere"))
    foreign = make_task(outsider.organization, user=outsider, title="foreign tagged")
    api.put(f"/api/v1/tasks/{foreign.pk}/tags", {"tags": ["beacon"]}, content_type="application/json")

    def api_titles(query: str) -> list[str]:
        response = api.get(f"/api/v1/tasks?{query}")
        assert response.status_code == HTTPStatus.OK, response.content
        return sorted(t["title"] for t in response.json()["items"])

    assert api_titles("tag=beacon") == ["tagged one"]
    assert api_titles("tag=BEACON") == ["tagged one"]
    assert api_titles("tag=nothing") == []
    assert api_titles("q=evil.example") == ["commented one"]
    assert api_titles("q=beacon") == ["tagged one"]  # a search spelled as a tag finds the tag
    assert api_titles("q=plain") == ["plain"]

    page = api.get("/tasks/?tag=beacon").content.decode()
    assert "tagged one" in page and "commented one" not in page and "foreign tagged" not in page
    page = api.get("/tasks/?q=evil.example").content.decode()
    assert "commented one" in page and "tagged one" not in page


def test_viewers_read_but_do_not_write(client, user_factory, api):
    case = create(api)
    viewer = user_factory(role=Role.VIEWER)
    client.force_login(viewer)
    assert client.get(f"/api/v1/investigations/{case['id']}").status_code == HTTPStatus.OK
    assert post(client, "/investigations", {"title": "mine"}).status_code == HTTPStatus.FORBIDDEN
    assert post(client, f"/investigations/{case['id']}/comments", {"body": "hi"}).status_code == 403


def test_timeline_merges_actions_and_task_events_and_every_change_is_audited(api):
    case = create(api)
    body = {"title": "scan", "task_type": "custom", "agents": ["test_echo"]}
    task_id = post(api, f"/investigations/{case['id']}/tasks/new", body).json()["id"]
    post(api, f"/investigations/{case['id']}/comments", {"body": "started"})
    patch(api, f"/investigations/{case['id']}", {"status": "closed"})

    timeline = api.get(f"/api/v1/investigations/{case['id']}/timeline").json()
    kinds = [(e["source"], e["kind"]) for e in timeline]
    assert kinds[0] == ("analyst", "investigation.created")
    assert ("task", "task.created") in kinds
    assert ("analyst", "investigation.task_added") in kinds
    assert kinds[-1] == ("analyst", "investigation.updated")
    assert any(e["task_id"] == task_id for e in timeline if e["source"] == "task")
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)

    audited = set(
        AuditEvent.objects.filter(entity_type="investigation", entity_id=case["id"]).values_list(
            "event_type", flat=True
        )
    )
    assert audited == {
        "investigation.create",
        "investigation.add_task",
        "comment.create",
        "investigation.update",
    }


def test_control_characters_and_unknown_values_are_refused(api):
    case = create(api)
    assert post(api, "/investigations", {"title": "a\x00b"}).status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert post(api, "/investigations", {"title": "t", "classification": "pink"}).status_code == 422
    assert patch(api, f"/investigations/{case['id']}", {"status": "done"}).status_code == 422
    assert post(api, "/investigations", {"title": "t", "assignees": [999999]}).status_code == 422


def test_the_timeline_query_count_does_not_grow_with_tasks(api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    case = create(api)
    body = {"title": "scan", "task_type": "custom", "agents": ["test_echo"]}

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"/api/v1/investigations/{case['id']}/timeline").status_code == HTTPStatus.OK
        return len(captured)

    post(api, f"/investigations/{case['id']}/tasks/new", body)
    one = queries()
    for _ in range(4):
        post(api, f"/investigations/{case['id']}/tasks/new", body)
    assert queries() == one
    assert (
        sum(e["source"] == "task" for e in api.get(f"/api/v1/investigations/{case['id']}/timeline").json())
        >= 5
    )
