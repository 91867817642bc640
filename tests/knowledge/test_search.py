"""Hybrid search: vector similarity fused with full-text rank, over what the user may read."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from apps.knowledge.indexing import result_index_and_embed, task_index
from apps.knowledge.search import SearchFilters, rrf, search
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_org_user(user_factory):
    return user_factory(org=organization_get_or_create(name="Other Org"))


def indexed_result(
    org, user, *, title, summary, data=None, agent="osint", task_type="investigation", **task_fields
):
    task = make_task(org, created_by=user, title=title, task_type=task_type, **task_fields)
    result = make_result(task, agent=agent, summary=summary, data=data or {})
    result_index_and_embed(result_id=result.pk)
    return task, result


def test_matching_passage_comes_back_highlighted_with_links(analyst):
    task, result = indexed_result(
        analyst.organization,
        analyst,
        title="Investigate acme.example",
        summary="The mail server of acme.example was hit by LockBit ransomware in March.",
        data={"findings": [{"title": "Exposed RDP on 192.0.2.7", "severity": "high"}]},
    )
    indexed_result(
        analyst.organization, analyst, title="Unrelated", summary="Quarterly sales grew by four percent."
    )

    found = search(user=analyst, query="ransomware", k=5)

    top = found.hits[0]
    assert top.task_id == str(task.pk)
    assert top.result_id == str(result.pk)
    assert top.source_kind == "result"
    assert "<mark>ransomware</mark>" in top.highlight
    assert top.vector_rank == 1 and top.text_rank == 1
    assert found.space == "builtin-hash-384 (384)"
    # Structured data is searchable by its text fields.
    rdp = search(user=analyst, query="exposed RDP", k=1).hits[0]
    assert "findings.title: Exposed RDP" in rdp.passage


def test_two_organisations_never_see_each_others_passages(analyst, other_org_user):
    mine, _ = indexed_result(
        analyst.organization, analyst, title="Ours", summary="Cobalt Strike beacon seen on host-a"
    )
    theirs, _ = indexed_result(
        other_org_user.organization,
        other_org_user,
        title="Theirs",
        summary="Cobalt Strike beacon seen on host-b",
    )

    my_hits = search(user=analyst, query="cobalt strike beacon", k=10).hits
    their_hits = search(user=other_org_user, query="cobalt strike beacon", k=10).hits

    assert {h.task_id for h in my_hits} == {str(mine.pk)}
    assert {h.task_id for h in their_hits} == {str(theirs.pk)}


def test_vector_similarity_finds_what_full_text_misses(analyst):
    task, _ = indexed_result(
        analyst.organization, analyst, title="Malware", summary="ransomware negotiation portal"
    )

    found = search(user=analyst, query="ransomwar negotiatio", k=3)  # truncated words: no lexeme match

    [hit] = [h for h in found.hits if h.source_kind == "result"]
    assert hit.task_id == str(task.pk)
    assert hit.text_rank is None
    assert hit.vector_rank == 1


def test_filters(analyst):
    old, _ = indexed_result(
        analyst.organization,
        analyst,
        title="Old scan",
        summary="open telnet port",
        agent="security",
        task_type="security_scan",
        classification="green",
    )
    new, _ = indexed_result(
        analyst.organization,
        analyst,
        title="New osint",
        summary="open telnet port",
        agent="osint",
        classification="red",
    )
    from apps.knowledge.models import Chunk

    Chunk.objects.filter(task=old).update(source_created_at=timezone.now() - timedelta(days=30))

    def ids(**f):
        return {
            h.task_id for h in search(user=analyst, query="telnet", k=10, filters=SearchFilters(**f)).hits
        }

    assert ids() == {str(old.pk), str(new.pk)}
    assert ids(task_type="security_scan") == {str(old.pk)}
    assert ids(agent="osint") == {str(new.pk)}
    assert ids(classifications=("red",)) == {str(new.pk)}
    assert ids(classifications=("clear", "green")) == {str(old.pk)}
    assert ids(date_from=timezone.now() - timedelta(days=1)) == {str(new.pk)}
    assert ids(date_to=timezone.now() - timedelta(days=1)) == {str(old.pk)}


def test_task_descriptions_are_searchable_and_html_is_escaped(analyst):
    task = make_task(
        analyst.organization,
        created_by=analyst,
        title="Phishing kit",
        description="Kit page (R&D) contains <script>steal()</script> and a credential harvester.",
    )
    task_index(task_id=task.pk)

    hit = search(user=analyst, query="credential harvester", k=1).hits[0]

    assert hit.source_kind == "task"
    assert "<script>" not in hit.highlight
    assert "R&amp;D" in hit.highlight
    assert "<mark>harvester</mark>" in hit.highlight


def test_reciprocal_rank_fusion():
    fused = rrf([[1, 2, 3], [3, 1]], k=60)
    assert [pk for pk, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_search_api(client, analyst, other_org_user, user_factory):
    task, result = indexed_result(
        analyst.organization, analyst, title="API", summary="Emotet loader dropped a DLL"
    )
    viewer = user_factory(role="viewer")

    assert client.get("/api/v1/search", {"q": "emotet"}).status_code == HTTPStatus.UNAUTHORIZED
    client.force_login(viewer)
    response = client.get("/api/v1/search", {"q": "emotet loader", "k": 3, "classification": "amber,red"})
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["results"][0]["task_id"] == str(task.pk)
    assert body["results"][0]["task_url"] == f"/tasks/{task.pk}/"
    assert body["results"][0]["result_url"] == f"/tasks/{task.pk}/#result-{result.pk}"
    assert "<mark>Emotet</mark>" in body["results"][0]["highlight"]

    client.force_login(other_org_user)
    assert client.get("/api/v1/search", {"q": "emotet loader"}).json()["results"] == []
    bad = client.get("/api/v1/search", {"q": "emotet", "classification": "purple"})
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
