"""A task created elsewhere and the task list: the list asks /tasks/news/ with its filters, sort,
page and render time; a new task that belongs on the visible page makes the list re-render, one
that belongs elsewhere gives an "N new tasks" notice, one that does not match changes nothing."""

import re
from datetime import timedelta
from html import unescape
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.tasks.models import Task

pytestmark = pytest.mark.django_db


def _task(analyst, title: str, *, minutes_ago: int = 0, **fields) -> Task:
    task = Task.objects.create(
        title=title,
        task_type="custom",
        status="completed",
        organization=analyst.organization,
        created_by=analyst,
        **fields,
    )
    if minutes_ago:
        Task.objects.filter(pk=task.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return task


def _news_url(client, list_url: str) -> str:
    html = client.get(list_url).content.decode()
    return unescape(re.search(r'id="task-news"[^>]*hx-get="([^"]+)"', html, re.S).group(1))


def test_a_new_task_on_the_first_page_newest_first_re_renders_the_list(client, analyst):
    _task(analyst, "Old one", minutes_ago=5)
    client.force_login(analyst)
    news = _news_url(client, "/tasks/")

    assert client.get(news).status_code == HTTPStatus.NO_CONTENT  # nothing new yet
    _task(analyst, "Made elsewhere")
    response = client.get(news)
    assert response.status_code == HTTPStatus.OK
    assert response["HX-Trigger"] == "amas:task-list-refresh"


def test_a_new_task_that_does_not_match_the_filters_changes_nothing(client, analyst):
    _task(analyst, "Needle sweep", minutes_ago=5)
    client.force_login(analyst)
    news = _news_url(client, "/tasks/?q=needle")
    assert parse_qs(urlsplit(news).query)["q"] == ["needle"]

    _task(analyst, "Haystack")
    assert client.get(news).status_code == HTTPStatus.NO_CONTENT
    _task(analyst, "Another needle")
    assert client.get(news)["HX-Trigger"] == "amas:task-list-refresh"


def test_on_a_later_page_a_notice_counts_the_new_tasks_and_links_to_them(client, analyst):
    for i in range(30):
        _task(analyst, f"Task {i:02}", minutes_ago=60 - i)
    client.force_login(analyst)
    news = _news_url(client, "/tasks/?page=2&status=completed")

    _task(analyst, "Fresh 1")
    _task(analyst, "Fresh 2")
    response = client.get(news)
    assert response.status_code == HTTPStatus.OK and "HX-Trigger" not in response
    html = response.content.decode()
    assert "2 new tasks match these filters" in html
    link = unescape(re.search(r'href="([^"]+)"', html).group(1))
    assert link == "/tasks/?status=completed"
    assert "Fresh 2" in client.get(link).content.decode()


def test_sorted_by_title_a_new_task_re_renders_only_the_page_it_lands_on(client, analyst):
    for i in range(30):
        _task(analyst, f"M task {i:02}", minutes_ago=60 - i)
    client.force_login(analyst)
    first_page = _news_url(client, "/tasks/?sort=title")
    second_page = _news_url(client, "/tasks/?sort=title&page=2")

    _task(analyst, "Z last by title")
    assert "HX-Trigger" not in client.get(first_page)  # it sorts onto page 2
    assert client.get(second_page)["HX-Trigger"] == "amas:task-list-refresh"
    _task(analyst, "A first by title")
    assert client.get(first_page)["HX-Trigger"] == "amas:task-list-refresh"


def test_a_bad_since_is_a_clear_400(client, analyst):
    client.force_login(analyst)
    response = client.get("/tasks/news/", {"since": "yesterday"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "since must be an ISO 8601 time" in response.content.decode()


def test_the_news_request_runs_a_bounded_number_of_queries(client, analyst, django_assert_max_num_queries):
    for i in range(40):
        _task(analyst, f"Task {i:02}", minutes_ago=60 - i)
    client.force_login(analyst)
    news = _news_url(client, "/tasks/?page=2")
    _task(analyst, "Fresh")
    with django_assert_max_num_queries(6):
        assert client.get(news).status_code == HTTPStatus.OK


def _refresh_url(client, list_url: str) -> str:
    html = client.get(list_url).content.decode()
    return unescape(re.search(r'id="task-results"[^>]*hx-get="([^"]+)"', html, re.S).group(1))


def _rerender(client, refresh_url: str) -> str:
    """The list's live re-render (socket reconnect, or a new task on the page), as htmx asks it."""
    headers = {"HX-Request": "true", "HX-Target": "task-results"}
    return client.get(refresh_url, headers=headers).content.decode()


def _news_in(html: str) -> tuple[str, str]:
    found = re.search(r'id="task-news"[^>]*hx-get="([^"]+)" hx-trigger="([^"]+)"', html, re.S)
    return unescape(found.group(1)), found.group(2)


def test_a_re_render_keeps_counting_from_when_the_list_was_shown(client, analyst):
    """The race the browser test met: a task created while a live re-render of page 2 was in
    flight. The re-render replaces the element that had the event queued, so it asks once more
    on load, and from the time the page was first shown, not its own render time."""
    for i in range(30):
        _task(analyst, f"Task {i:02}", minutes_ago=60 - i)
    client.force_login(analyst)
    refresh = _refresh_url(client, "/tasks/?page=2")
    first_news, first_trigger = _news_in(client.get("/tasks/?page=2").content.decode())
    assert "load" not in first_trigger  # the first render has nothing to catch up on

    _task(analyst, "Fresh")
    news, trigger = _news_in(_rerender(client, refresh))
    assert "load" in trigger
    assert parse_qs(urlsplit(news).query)["page"] == ["2"]
    response = client.get(news)
    assert response.status_code == HTTPStatus.OK and "HX-Trigger" not in response
    assert "1 new task matches these filters" in response.content.decode()


def test_on_the_first_page_a_re_render_that_shows_the_new_task_ends_the_news(client, analyst):
    _task(analyst, "Old one", minutes_ago=5)
    client.force_login(analyst)
    refresh = _refresh_url(client, "/tasks/")
    _task(analyst, "Made elsewhere")
    html = _rerender(client, refresh)
    assert "Made elsewhere" in html
    news, _trigger = _news_in(html)
    # Shown since the list was first shown, but already on the page: no notice, no new re-render.
    assert client.get(news).status_code == HTTPStatus.NO_CONTENT


def test_a_bad_rendered_time_is_a_clear_400(client, analyst):
    client.force_login(analyst)
    response = client.get("/tasks/news/", {"since": timezone.now().isoformat(), "rendered": "soon"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "rendered must be an ISO 8601 time" in response.content.decode()
