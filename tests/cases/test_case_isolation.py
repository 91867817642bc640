"""Two organisations: nothing of one organisation's cases, tasks or entities can be reached from
the other by naming its ids in a body or a path (404, never 403, so ids reveal nothing)."""

from http import HTTPStatus

import pytest

from apps.cases.services import investigation_add_task, investigation_create
from apps.users.models import Role
from apps.users.services import organization_get_or_create
from tests.cases.conftest import patch, post
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(user_factory):
    other = user_factory(org=organization_get_or_create(name="Org B"), role=Role.ADMIN)
    case = investigation_create(user=other, title="B's case")
    task = make_task(other.organization, user=other, title="B's task")
    investigation_add_task(investigation=case, task=task, by=other)
    return case, task


def test_another_organisations_task_cannot_join_or_seed_my_case(api, theirs):
    their_case, their_task = theirs
    mine = investigation_create(user=api.user, title="mine")
    added = post(api, f"/investigations/{mine.pk}/tasks", {"task_id": str(their_task.pk)})
    assert added.status_code == HTTPStatus.NOT_FOUND
    follow = post(
        api,
        f"/investigations/{mine.pk}/follow-ups",
        {"origin_task_id": str(their_task.pk), "kind": "domain", "value": "example.org"},
    )
    assert follow.status_code == HTTPStatus.NOT_FOUND
    assert mine.memberships.count() == 0


def test_another_organisations_case_is_not_found_for_every_role(client, user_factory, theirs):
    their_case, their_task = theirs
    # Admins must sign in with MFA; the authorisation matrix covers another organisation's admin.
    for role in (Role.VIEWER, Role.ANALYST):
        client.force_login(user_factory(role=role))
        base = f"/api/v1/investigations/{their_case.pk}"
        for path in ("", "/tasks", "/comments", "/timeline", "/entities", "/stix"):
            assert client.get(base + path).status_code == HTTPStatus.NOT_FOUND, (role, path)
        assert patch(client, base, {"title": "x"}).status_code in {HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN}
        assert client.get(f"/api/v1/tasks/{their_task.pk}/stix").status_code == HTTPStatus.NOT_FOUND
        listed = client.get("/api/v1/investigations").json()["items"]
        assert "B's case" not in [i["title"] for i in listed]


def test_a_follow_up_needs_an_origin_task_in_the_case(api):
    case = investigation_create(user=api.user, title="mine")
    outside = make_task(api.user.organization, user=api.user)
    response = post(
        api,
        f"/investigations/{case.pk}/follow-ups",
        {"origin_task_id": str(outside.pk), "kind": "domain", "value": "example.org"},
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["field"] == "origin_task_id"
