"""Clustering: documents by topic (TF-IDF offline) and numeric rows with a planted structure."""

import pytest

from apps.agents.ml import MLAgent
from apps.core.vocabulary import TaskType
from apps.knowledge.models import Artefact
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def cluster(organization, files, **params):
    return run_on_files(MLAgent, organization, files, task_type=TaskType.CLUSTERING, **params)


def test_documents_cluster_by_topic_with_labels(organization):
    files = {
        f"{topic}-{i}.txt": text
        for topic, texts in ff.TOPIC_DOCUMENTS.items()
        for i, text in enumerate(texts)
    }
    run = cluster(organization, files)

    result = run.data["clusterings"][0]
    assert result["kind"] == "documents" and result["vectors"] == "tfidf"
    assert result["k"] == 3
    groups = sorted(sorted(name.split("-")[0] for name in c["members"]) for c in result["clusters"])
    assert groups == [["ddos"] * 4, ["phishing"] * 4, ["ransomware"] * 4]
    labels = {c["members"][0].split("-")[0]: c["top_terms"] for c in result["clusters"]}
    assert {"phishing", "password", "login"} & set(labels["phishing"][:3])
    assert {"ransomware", "ransom", "encrypted", "bitcoin"} & set(labels["ransomware"][:3])
    assert {"ddos", "flood", "network", "traffic"} & set(labels["ddos"][:3])
    assert Artefact.objects.get(id=result["chart_artefact_id"]).detected_type == "image/png"


def test_one_file_clusters_by_line(organization):
    lines = "\n".join(text for texts in ff.TOPIC_DOCUMENTS.values() for text in texts)
    run = cluster(organization, {"notes.txt": lines}, unit="line", n_clusters=3)
    result = run.data["clusterings"][0]
    assert result["k"] == 3 and sum(c["size"] for c in result["clusters"]) == 12


def test_numeric_rows_recover_the_planted_clusters(organization):
    run = cluster(organization, {"points.csv": ff.clusters_csv()}, exclude_columns=["true_cluster"])

    result = run.data["clusterings"][0]
    assert result["kind"] == "rows" and result["features"] == ["x", "y", "z"]
    assert result["k"] == 3 and result["silhouette"] > 0.6
    truth = [line.split(",")[3] for line in ff.clusters_csv().splitlines()[1:]]
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, result["assignments"]) == pytest.approx(1.0)
    assert all(c["size"] == 60 for c in result["clusters"])


def test_past_results_are_clustered(organization):
    from apps.tasks.models import Result, Task, TaskStep

    for topic, texts in ff.TOPIC_DOCUMENTS.items():
        for text in texts:
            task = Task.objects.create(
                organization=organization, title=topic, task_type=TaskType.INVESTIGATION
            )
            step = TaskStep.objects.create(task=task, agent_type="osint")
            Result.objects.create(task=task, step=step, agent="osint", status="completed", summary=text)
    run = cluster(organization, {}, past_results=50, n_clusters=3)
    result = run.data["clusterings"][0]
    assert result["source"] == "past results" and len(result["assignments"]) == 12
    groups = sorted(c["size"] for c in result["clusters"])
    assert groups == [4, 4, 4]
