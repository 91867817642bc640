"""Similar tasks come from the same index as search, within the user's organisation."""

from http import HTTPStatus

import pytest

from apps.knowledge.indexing import result_index_and_embed, task_index
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db


def indexed(org, user, title, summary):
    task = make_task(org, created_by=user, title=title, description=summary)
    result_index_and_embed(result_id=make_result(task, summary=summary).pk)
    return task


def test_similar_tasks(client, analyst, user_factory):
    org = analyst.organization
    base = indexed(
        org, analyst, "Phishing wave", "credential phishing emails impersonating the bank login page"
    )
    close = indexed(
        org, analyst, "More phishing", "phishing emails impersonating a bank login page to steal credentials"
    )
    far = indexed(org, analyst, "Sales figures", "quarterly revenue spreadsheet with regional totals")
    outsider = user_factory(org=organization_get_or_create(name="Another"))
    hidden = indexed(
        outsider.organization, outsider, "Their phishing", "credential phishing emails impersonating the bank"
    )

    client.force_login(analyst)
    response = client.get(f"/api/v1/tasks/{base.pk}/similar", {"limit": 5})

    assert response.status_code == HTTPStatus.OK
    ids = [t["id"] for t in response.json()]
    assert ids[0] == str(close.pk)
    assert str(base.pk) not in ids
    assert str(hidden.pk) not in ids
    scores = {t["id"]: t["similarity"] for t in response.json()}
    assert scores[str(close.pk)] > scores.get(str(far.pk), 0)


def test_a_fresh_task_finds_similar_ones_before_it_is_indexed(analyst):
    from apps.knowledge.search import similar_tasks

    org = analyst.organization
    older = make_task(
        org, created_by=analyst, title="Typosquatting", description="lookalike domains of example bank"
    )
    task_index(task_id=older.pk)
    fresh = make_task(
        org, created_by=analyst, title="Typosquatting check", description="lookalike domains of the bank"
    )

    found = similar_tasks(user=analyst, task=fresh)

    assert [s.task.pk for s in found] == [older.pk]
    assert 0 < found[0].similarity <= 1
