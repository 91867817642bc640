"""A task's tags and comments on its page: the panel loads with the page, analysts tag and comment
(htmx swaps the panel; a plain post comes back to the task page), a viewer reads but is refused
writes, another organisation gets 404, bad input is a 422 with the message at its field."""

from http import HTTPStatus

import pytest

from apps.cases.models import COMMENT_MAX_CHARS, Comment, TaskTags
from apps.users.models import Role
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "task-notes"}


@pytest.fixture
def task(analyst):
    return make_task(analyst.organization, user=analyst, title="beacon hunt")


def test_the_page_loads_the_panel_and_an_analyst_tags_and_comments(client, analyst, user_factory, task):
    colleague = user_factory(email="cole@example.org")
    client.force_login(analyst)
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert f"/tasks/{task.pk}/notes/" in page

    answer = client.post(f"/tasks/{task.pk}/notes/tags/", {"tags": "C2, Beacon c2"}, **HTMX)
    assert answer.status_code == HTTPStatus.OK
    assert TaskTags.objects.get(task=task).tags == ["c2", "beacon"]
    assert 'href="/tasks/?tag=c2"' in answer.content.decode()

    answer = client.post(f"/tasks/{task.pk}/notes/comments/", {"body": f"ask @{colleague.email}"})
    assert answer.status_code == HTTPStatus.FOUND and answer["Location"] == f"/tasks/{task.pk}/"
    comment = Comment.objects.get(task=task)
    assert list(comment.mentions.all()) == [colleague]
    panel = client.get(f"/tasks/{task.pk}/notes/").content.decode()
    assert "ask @cole@example.org" in panel and "c2" in panel
    # The task list finds it by tag and by the comment.
    assert "beacon hunt" in client.get("/tasks/?tag=beacon").content.decode()
    assert "beacon hunt" in client.get("/tasks/?q=ask+@cole").content.decode()


def test_bad_input_is_refused_at_its_field_and_nothing_is_written(client, analyst, task):
    client.force_login(analyst)
    answer = client.post(f"/tasks/{task.pk}/notes/tags/", {"tags": "no/spaces? bad!"}, **HTMX)
    assert answer.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "Invalid tag" in answer.content.decode()
    assert not TaskTags.objects.filter(task=task).exclude(tags=[]).exists()
    answer = client.post(f"/tasks/{task.pk}/notes/comments/", {"body": "x" * (COMMENT_MAX_CHARS + 1)}, **HTMX)
    assert answer.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "has-error" in answer.content.decode()
    assert not Comment.objects.exists()


def _field_html(page: str, name: str) -> str:
    """The field's wrapper as rendered by _field.html: its input, help and errors."""
    start = page.index(f'id="id_{name}"')
    start = page.rindex('<div class="field', 0, start)
    return page[start : page.index("</div>", start)]


@pytest.mark.parametrize(
    ("url", "data", "field", "message"),
    [
        # refused by the service (task_tags_set names the field)
        ("tags", {"tags": "no/spaces? bad!"}, "tags", "Invalid tag"),
        # refused by Django's own form validation before any service runs
        ("comments", {"body": ""}, "body", "This field is required."),
        ("comments", {"body": "x" * (COMMENT_MAX_CHARS + 1)}, "body", "at most"),
        # refused by the service (comment_create refuses control characters)
        ("comments", {"body": "bell \x07 here"}, "body", "contains control characters"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_a_refused_field_is_marked_invalid_with_its_message(
    client, analyst, task, url, data, field, message, htmx
):
    client.force_login(analyst)
    answer = client.post(f"/tasks/{task.pk}/notes/{url}/", data, **(HTMX if htmx else {}))
    assert answer.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    html = _field_html(answer.content.decode(), field)
    assert 'aria-invalid="true"' in html
    assert f'aria-describedby="id_{field}_error' in html
    assert f'<ul class="error" id="id_{field}_error"' in html and message in html
    assert not Comment.objects.exists()
    assert not TaskTags.objects.filter(task=task).exclude(tags=[]).exists()


def test_a_viewer_reads_and_another_organisation_gets_not_found(client, user_factory, task):
    viewer = user_factory(role=Role.VIEWER)
    client.force_login(viewer)
    page = client.get(f"/tasks/{task.pk}/notes/")
    assert page.status_code == HTTPStatus.OK and "Save tags" not in page.content.decode()
    assert client.post(f"/tasks/{task.pk}/notes/tags/", {"tags": "x"}).status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"/tasks/{task.pk}/notes/comments/", {"body": "x"}).status_code == HTTPStatus.FORBIDDEN
    assert not Comment.objects.exists()

    outsider = user_factory(org=organization_get_or_create(name="Elsewhere"))
    client.force_login(outsider)
    assert client.get(f"/tasks/{task.pk}/notes/").status_code == HTTPStatus.NOT_FOUND
    assert client.post(f"/tasks/{task.pk}/notes/comments/", {"body": "x"}).status_code == HTTPStatus.NOT_FOUND


def test_anonymous_is_sent_to_sign_in(client, task):
    assert client.get(f"/tasks/{task.pk}/notes/").status_code == HTTPStatus.FOUND
