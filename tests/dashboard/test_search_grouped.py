"""The search page groups passages by task, with totals and pages of tasks, and shows field
labels instead of the indexer's JSON paths."""

import re

import pytest

from apps.knowledge.indexing import result_index_and_embed
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db


def test_hits_are_grouped_by_task_with_totals_labels_and_pages(client, analyst):
    org = analyst.organization
    first = make_task(org, user=analyst, title="Kerberoasting sweep 0")
    for agent in ("analysis", "osint"):
        result = make_result(
            first,
            agent=agent,
            data={"documents": [{"key_points": {"quotes": [{"text": f"kerberoasting seen by {agent}"}]}}]},
        )
        result_index_and_embed(result_id=result.pk)
    for i in range(1, 12):
        task = make_task(org, user=analyst, title=f"Kerberoasting sweep {i}")
        result_index_and_embed(result_id=make_result(task, summary=f"kerberoasting attempt number {i}").pk)
    client.force_login(analyst)

    html = client.get("/search/", {"q": "kerberoasting"}).content.decode()
    groups = re.findall(r'data-search-task="([0-9a-f-]+)"', html)
    assert len(groups) == 10 and len(set(groups)) == 10  # ten tasks a page, each once
    assert re.search(r"\d+ passages in 12 tasks, page 1 of 2", html)
    assert "documents.key_points" not in html and "quotes.text" not in html
    assert "Key points › quotes" in html

    second = client.get("/search/", {"q": "kerberoasting", "page": 2}).content.decode()
    assert len(re.findall(r'data-search-task="', second)) == 2
    assert not set(groups) & set(re.findall(r'data-search-task="([0-9a-f-]+)"', second))
    assert f'data-search-task="{first.pk}"' in html + second
    group = (html + second).split(f'data-search-task="{first.pk}"')[1].split('class="card search-group"')[0]
    assert "analysis result" in group and "osint result" in group  # both results sit under their task
