"""The search page and the similar-tasks fragment a task page loads."""

from http import HTTPStatus

import pytest

from apps.knowledge.indexing import result_index_and_embed, task_index
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db


def test_search_page_shows_highlighted_passages_with_links(client, analyst):
    task = make_task(analyst.organization, created_by=analyst, title="Beacon hunt")
    result = make_result(task, summary="Sliver C2 <b>beacon</b> calling home every 60 seconds")
    result_index_and_embed(result_id=result.pk)
    client.force_login(analyst)

    page = client.get("/search/", {"q": "sliver beacon"}).content.decode()
    fragment = client.get("/search/", {"q": "sliver beacon"}, HTTP_HX_REQUEST="true").content.decode()

    assert "<mark>Sliver</mark>" in page
    assert "&lt;b&gt;" in page or "<b>" not in page.split("hit-passage")[1]
    assert f'href="/tasks/{task.pk}/"' in page
    assert f'href="/tasks/{task.pk}/#result-{result.pk}"' in page
    assert fragment.lstrip().startswith('<section id="search-results"')
    assert "<html" not in fragment


def test_search_page_needs_login(client):
    response = client.get("/search/", {"q": "x"})
    assert response.status_code == HTTPStatus.FOUND
    assert "/accounts/login" in response["Location"]


def test_similar_tasks_fragment(client, analyst, user_factory):
    org = analyst.organization
    a = make_task(
        org, created_by=analyst, title="DNS tunnelling", description="dns tunnelling exfiltration over TXT"
    )
    b = make_task(
        org,
        created_by=analyst,
        title="DNS tunnel again",
        description="exfiltration through dns TXT tunnelling",
    )
    for t in (a, b):
        task_index(task_id=t.pk)
    client.force_login(analyst)

    html = client.get(f"/tasks/{a.pk}/similar/").content.decode()
    assert "DNS tunnel again" in html

    outsider = user_factory(org=organization_get_or_create(name="Far away"))
    client.force_login(outsider)
    assert client.get(f"/tasks/{a.pk}/similar/").status_code == HTTPStatus.NOT_FOUND
