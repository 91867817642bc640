"""The dashboard's pages over Django's test client: what they show, who may use them."""

from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.tasks.models import Result, Task, TaskStep

pytestmark = pytest.mark.django_db


def make(user, **fields):
    defaults = {
        "title": "t",
        "task_type": "custom",
        "organization_id": user.organization_id,
        "created_by": user,
    }
    return Task.objects.create(**{**defaults, **fields})


def form_data(**overrides):
    data = {
        "task_type": "investigation",
        "target": "example.org",
        "title": "",
        "description": "",
        "priority": "5",
        "classification": "amber",
        "agent_mode": "auto",
        "schedule": "once",
        "every_seconds": "",
        "crontab": "",
        "param-test_echo-shown": "1",
        "param-test_echo-words": "3",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("url", ["/", "/tasks/", "/tasks/new/", "/monitor/", "/agents/", "/providers/"])
def test_every_page_renders_in_the_layout_with_a_title(signed_in, url):
    make(signed_in.user, title="Look at example.org", target="example.org")
    response = signed_in.get(url)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "· AMAS</title>" in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert 'aria-current="page"' in html


def test_pages_need_a_login(client):
    response = client.get("/tasks/")
    assert response.status_code == HTTPStatus.FOUND
    assert "/accounts/login/" in response["Location"]


def test_detail_shows_steps_results_with_severity_and_summary(signed_in):
    task = make(
        signed_in.user,
        title="Investigate example.org",
        status="completed",
        progress=100,
        summary={"text": "All quiet on example.org", "agent": "aggregator", "data": {"finding_count": 1}},
    )
    step = TaskStep.objects.create(task=task, agent_type="test_echo", status="completed", progress=100)
    Result.objects.create(
        task=task,
        step=step,
        agent="test_echo",
        status="completed",
        summary="echoed",
        data={
            "findings": [{"severity": "high", "title": "open resolver"}],
            "counts": {"a": 3, "b": 1},
            "words": ["alpha", "beta"],
            "resolved": True,
        },
    )
    html = signed_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "All quiet on example.org" in html
    assert 'class="badge sev-high">high<' in html
    assert "open resolver" in html
    assert "<meter" in html and "alpha" in html
    assert f'data-step-id="{step.pk}"' in html
    assert "Raw JSON" in html
    assert f'ws-connect="/ws/tasks/{task.pk}/"' in html


def test_another_organisations_task_is_not_found(signed_in, user_factory):
    from apps.users.services import organization_get_or_create

    stranger = user_factory(org=organization_get_or_create(name="Elsewhere"))
    task = make(stranger, title="secret")
    assert signed_in.get(f"/tasks/{task.pk}/").status_code == HTTPStatus.NOT_FOUND


def test_htmx_requests_get_the_targeted_section_only(signed_in):
    make(signed_in.user, title="Needle", status="failed")
    make(signed_in.user, title="Hay")
    response = signed_in.get("/tasks/?q=Needle", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="task-results")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="task-results"')
    assert "Needle" in html and "Hay" not in html
    assert "<html" not in html


def test_filters_narrow_the_list(signed_in):
    me = signed_in.user
    make(me, title="Alpha investigation", task_type="investigation", priority=9, status="completed")
    make(me, title="Beta scan", task_type="security_scan", priority=2, target="10.0.0.1")
    make(me, title="Gamma", priority=5, status="failed")

    def titles(query):
        html = signed_in.get(f"/tasks/?{query}").content.decode()
        return sorted(t for t in ("Alpha investigation", "Beta scan", "Gamma") if t in html)

    assert titles("") == ["Alpha investigation", "Beta scan", "Gamma"]
    assert titles("status=completed") == ["Alpha investigation"]
    assert titles("task_type=security_scan") == ["Beta scan"]
    assert titles("priority_min=5") == ["Alpha investigation", "Gamma"]
    assert titles("q=10.0.0") == ["Beta scan"]
    assert titles("sort=-priority") == ["Alpha investigation", "Beta scan", "Gamma"]


def test_new_task_form_creates_the_task_with_its_file(signed_in):
    upload = SimpleUploadedFile("notes.txt", b"example.org was seen", content_type="text/plain")
    response = signed_in.post("/tasks/new/", {**form_data(), "files": upload})
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:3000]
    task = Task.objects.get(created_by=signed_in.user)
    assert response["Location"] == f"/tasks/{task.pk}/"
    assert task.status == "queued" and task.target == "example.org"
    assert task.title == "Investigate a target (OSINT): example.org"
    assert [a.original_name for a in task.artefacts.all()] == ["notes.txt"]


def test_htmx_form_post_redirects_through_the_header(signed_in):
    response = signed_in.post("/tasks/new/", form_data(), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="task-form")
    assert response.status_code == HTTPStatus.OK
    assert response["HX-Redirect"].startswith("/tasks/")


def test_changed_agent_parameters_are_sent_and_defaults_are_not(signed_in):
    signed_in.post(
        "/tasks/new/",
        form_data(
            task_type="custom", agent_mode="manual", agents=["test_echo"], **{"param-test_echo-words": "5"}
        ),
    )
    task = Task.objects.get(created_by=signed_in.user)
    assert task.parameters == {"test_echo": {"words": 5}}
    assert task.requested_agents == ["test_echo"]


def test_errors_are_shown_next_to_their_field(signed_in):
    response = signed_in.post("/tasks/new/", form_data(schedule="interval", every_seconds="5"))
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    html = response.content.decode()
    assert 'id="id_every_seconds_error"' in html and "at least" in html
    assert not Task.objects.exists()

    response = signed_in.post("/tasks/new/", form_data(agent_mode="manual"))
    assert 'id="id_agents_error"' in response.content.decode()

    response = signed_in.post("/tasks/new/", form_data(**{"param-test_echo-words": "many"}))
    assert 'id="id_param-test_echo-words_error"' in response.content.decode()


def test_a_schedule_makes_a_recurring_task(signed_in):
    response = signed_in.post("/tasks/new/", form_data(schedule="cron", crontab="0 6 * * 1"))
    assert response.status_code == HTTPStatus.FOUND
    task = Task.objects.get(created_by=signed_in.user)
    assert task.schedule.crontab.hour == "6"
    assert "cron" in signed_in.get(response["Location"]).content.decode()


def test_plan_preview_shows_the_agents_and_their_reasons(signed_in):
    response = signed_in.post(
        "/tasks/new/plan/", form_data(task_type="custom", target="hello world"), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "data-plan-steps" in html
    assert "test_echo" in html and "Why" in html
    assert "<html" not in html
    assert not Task.objects.exists()  # nothing was saved


def test_plan_preview_says_why_nothing_fits(signed_in):
    html = signed_in.post(
        "/tasks/new/plan/", form_data(task_type="clustering", target=""), HTTP_HX_REQUEST="true"
    )
    assert 'role="alert"' in html.content.decode()


def test_cancel_and_retry_from_the_detail_page(signed_in):
    task = make(signed_in.user, title="long", status="running")
    response = signed_in.post(
        f"/tasks/{task.pk}/cancel/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="task-state"
    )
    assert response.status_code == HTTPStatus.OK
    assert f'data-task-badge="{task.pk}">cancelled<' in response.content.decode()
    task.refresh_from_db()
    assert task.status == "cancelled"

    again = signed_in.post(f"/tasks/{task.pk}/cancel/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="task-state")
    assert 'role="alert"' in again.content.decode()  # a cancelled task cannot be cancelled: said, not broken


def test_bulk_cancel_skips_what_cannot_be_cancelled(signed_in):
    running = make(signed_in.user, title="r", status="running")
    done = make(signed_in.user, title="d", status="completed")
    response = signed_in.post("/tasks/bulk/", {"action": "cancel", "ids": [running.pk, done.pk]}, follow=True)
    html = response.content.decode()
    assert "Cancelled 1 task." in html and "Skipped 1" in html
    running.refresh_from_db()
    assert running.status == "cancelled"


def test_viewer_sees_no_new_task_button_and_cannot_post(viewer_client):
    for url in ("/", "/tasks/"):
        html = viewer_client.get(url).content.decode()
        assert "New task" not in html
    assert viewer_client.get("/tasks/new/").status_code == HTTPStatus.FORBIDDEN
    assert viewer_client.post("/tasks/new/", form_data()).status_code == HTTPStatus.FORBIDDEN
    assert viewer_client.post("/tasks/new/plan/", form_data()).status_code == HTTPStatus.FORBIDDEN
    assert viewer_client.post("/tasks/bulk/", {"action": "cancel"}).status_code == HTTPStatus.FORBIDDEN
    assert not Task.objects.exists()


def test_plan_preview_without_javascript_renders_the_whole_form_again(signed_in):
    response = signed_in.post("/tasks/new/plan/", form_data(target="example.org"))
    html = response.content.decode()
    assert "<html" in html and "data-plan-steps" in html
    assert 'value="example.org"' in html  # what was typed is kept
    assert not Task.objects.exists()


def test_viewer_reads_a_task_without_cancel_or_retry(viewer_client, analyst):
    task = make(analyst, title="Someone else's", status="running")
    html = viewer_client.get(f"/tasks/{task.pk}/").content.decode()
    assert "Someone else" in html
    assert "Cancel task" not in html and "Retry task" not in html
    assert 'name="ids"' not in viewer_client.get("/tasks/").content.decode()  # no bulk selection
    response = viewer_client.post(f"/tasks/{task.pk}/cancel/")
    assert response.status_code == HTTPStatus.FORBIDDEN
    task.refresh_from_db()
    assert task.status == "running"


def test_a_section_refresh_after_the_session_ended_sends_the_page_to_the_login(client):
    response = client.get(
        "/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="overview-status",
        HTTP_HX_CURRENT_URL="http://testserver/tasks/?q=x",
    )
    assert response.status_code == HTTPStatus.OK
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")
    assert "tasks" in response["HX-Redirect"]
