"""The file agents with the AI router on their context (the built-in offline provider, as on a fresh
install): abstractive summaries with supporting quotes, embeddings for clustering, a narrated
forensic report whose verdict stays the rules'."""

import pytest

from apps.agents.analysis import AnalysisAgent
from apps.agents.forensics import ForensicsAgent
from apps.agents.ml import MLAgent
from apps.core.vocabulary import TaskType
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_abstractive_summary_points_are_backed_by_quotes(organization):
    text = ff.report_text()
    run = run_on_files(
        AnalysisAgent,
        organization,
        {"report.txt": text},
        task_type=TaskType.DOCUMENT_ANALYSIS,
        with_router=True,
        summary_sentences=3,
    )
    document = run.data["documents"][0]
    abstractive = document["summary"]["abstractive"]
    assert abstractive["text"]
    points = [p for p in document["key_points"] if p["source"] == "abstractive"]
    assert points
    for point in points:
        assert point["quotes"], point
        for quote in point["quotes"]:
            assert text[quote["start"] : quote["end"]] == quote["text"]
    assert "Black Lantern" in " ".join(p["point"] for p in points)


def test_clustering_uses_router_embeddings(organization):
    files = {
        f"{topic}-{i}.txt": text
        for topic, texts in ff.TOPIC_DOCUMENTS.items()
        for i, text in enumerate(texts)
    }
    run = run_on_files(
        MLAgent, organization, files, task_type=TaskType.CLUSTERING, with_router=True, n_clusters=3
    )
    result = run.data["clusterings"][0]
    assert result["vectors"] == "embeddings" and "embedding_error" not in result
    groups = sorted(sorted(name.split("-")[0] for name in c["members"]) for c in result["clusters"])
    assert groups == [["ddos"] * 4, ["phishing"] * 4, ["ransomware"] * 4]


def test_forensic_narrative_keeps_the_rules_verdict(organization):
    run = run_on_files(
        ForensicsAgent,
        organization,
        {"invoice.pdf": ff.pdf_with_javascript()},
        task_type=TaskType.FILE_ANALYSIS,
        with_router=True,
    )
    assert run.data["verdict"] == "suspicious"
    assert run.data["narrative"].startswith("Verdict: suspicious")
    assert run.data["narrative"] != run.result.summary
