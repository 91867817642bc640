"""Playbooks: admins define them (validated like a task, versioned on change), analysts run them
on a target (the condition checked), inside an investigation or not; viewers only read."""

from http import HTTPStatus

import pytest

from apps.audit.models import AuditEvent
from apps.cases.models import PlaybookVersion
from apps.cases.playbooks import playbook_create
from apps.cases.services import investigation_create
from apps.users.models import Role
from tests.cases.conftest import patch, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(user_factory):
    return user_factory(role=Role.ADMIN)


@pytest.fixture
def echo_playbook(admin):
    return playbook_create(
        user=admin,
        name="echo-domains",
        task_type="custom",
        agents=["test_echo"],
        condition_target_kinds=["domain"],
    )


def test_running_a_playbook_submits_its_agents_inside_an_investigation(api, echo_playbook):
    case = investigation_create(user=api.user, title="case")
    response = post(
        api, "/playbooks/echo-domains/run", {"target": "example.org", "investigation_id": str(case.pk)}
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    task = response.json()
    assert task["requested_agents"] == ["test_echo"] and task["task_type"] == "custom"
    assert task["title"] == "echo-domains v1: example.org"
    assert [t["id"] for t in api.get(f"/api/v1/investigations/{case.pk}/tasks").json()["items"]] == [
        task["id"]
    ]
    run = AuditEvent.objects.get(event_type="playbook.run")
    assert run.changes["task_id"] == task["id"] and run.changes["version"] == 1


def test_the_condition_and_unknown_playbooks_are_refused(api, echo_playbook):
    wrong = post(api, "/playbooks/echo-domains/run", {"target": "93.184.216.34"})
    assert wrong.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and wrong.json()["field"] == "target"
    missing = post(api, "/playbooks/no-such/run", {"target": "example.org"})
    assert missing.status_code == HTTPStatus.NOT_FOUND and "no-such" in missing.json()["detail"]


def test_a_change_is_a_new_version_and_bad_definitions_are_refused(admin, echo_playbook):
    from apps.cases.playbooks import playbook_update
    from apps.core.exceptions import ValidationFailed

    updated = playbook_update(playbook=echo_playbook, by=admin, agents=["test_echo", "test_echo_two"])
    assert updated.version == 2
    assert list(
        PlaybookVersion.objects.filter(playbook=updated).values_list("version", flat=True).order_by("version")
    ) == [1, 2]
    assert playbook_update(playbook=updated, by=admin, agents=["test_echo", "test_echo_two"]).version == 2
    with pytest.raises(ValidationFailed, match="Unknown agent 'nope'"):
        playbook_update(playbook=updated, by=admin, agents=["nope"])
    with pytest.raises(ValidationFailed, match="target kind"):
        playbook_create(
            user=admin, name="x", task_type="custom", agents=["test_echo"], condition_target_kinds=["moon"]
        )


def test_analysts_and_viewers_cannot_manage_playbooks(api, client, user_factory, echo_playbook):
    body = {"name": "mine", "task_type": "custom", "agents": ["test_echo"]}
    assert post(api, "/playbooks", body).status_code == HTTPStatus.FORBIDDEN
    assert patch(api, "/playbooks/echo-domains", {"active": False}).status_code == HTTPStatus.FORBIDDEN
    client.force_login(user_factory(role=Role.VIEWER))
    assert [p["name"] for p in client.get("/api/v1/playbooks").json()["items"]] == ["echo-domains"]
    assert post(client, "/playbooks/echo-domains/run", {"target": "example.org"}).status_code == 403
