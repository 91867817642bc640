"""Issue 15 through the API on a real Celery worker: only confident indicators of a document reach
the knowledge graph (the rest stay in the result with reasons); a classification honours
exclude_columns and warns about a leak; planted attack lines of a real dpkg log rank in the top ten."""

from http import HTTPStatus

import pytest

from apps.core.vocabulary import TaskType
from apps.knowledge.graph.selectors import graph_task_entities
from apps.tasks.models import Result
from tests.agents.fixtures_runner import media_root, submit_with_files, wait_for_task  # noqa: F401
from tests.agents.test_ml_anomaly import PLANTED, dpkg_log_with_planted_lines
from tests.agents.test_ml_classification import overlapping_with_leak

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

README = """# fastlib

Install with `python setup.py install` and read the CODE_OF_CONDUCT.md first. Version 1.1.0.14
adds a `logger.info` wrapper; `self.name` is now cached.

## Security notice

An impostor package beacons to update-check[.]top and to 185.220.101.4, and asks victims for
payment to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.
"""


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    return client


def completed(response):
    assert response.status_code == HTTPStatus.CREATED, response.content
    task = wait_for_task(response.json()["id"])
    assert task.status == "completed", task.error_message
    return task


def test_only_confident_indicators_reach_the_graph(api, analyst, celery_worker):
    task = completed(
        submit_with_files(
            api, {"README.md": README}, task_type=TaskType.DOCUMENT_ANALYSIS, agents=["analysis"]
        )
    )

    graph = {(e.kind, e.value) for e in graph_task_entities(user=analyst, task=task)}
    assert graph == {
        ("domain", "update-check.top"),
        ("ip", "185.220.101.4"),
        ("btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
    }
    listed = {
        i["value"]: i
        for i in Result.objects.get(task=task, agent="analysis").data["documents"][0]["indicators"]
    }
    for value in ("setup.py", "1.1.0.14", "logger.info", "self.name"):
        assert listed[value]["confidence"] < 0.7 and listed[value]["reasons"], value
    assert "codeofconduct.md" not in listed and "code_of_conduct.md" not in listed


def test_classification_honours_exclude_columns_and_warns_of_a_leak(api, celery_worker):
    files = {"flows.csv": overlapping_with_leak()}
    leaky = completed(submit_with_files(api, files, task_type=TaskType.CLASSIFICATION, agents=["ml"]))
    cleaned = completed(
        submit_with_files(
            api,
            files,
            task_type=TaskType.CLASSIFICATION,
            agents=["ml"],
            parameters={"ml": {"exclude_columns": ["verdict_code"]}},
        )
    )

    before = Result.objects.get(task=leaky, agent="ml").data["classification"]
    after = Result.objects.get(task=cleaned, agent="ml").data["classification"]
    assert [w["column"] for w in before["warnings"]] == ["verdict_code"]
    assert before["metrics"]["accuracy"] == 1.0 and before["cross_validation"]["accuracy_mean"] == 1.0
    assert "verdict_code" not in after["features"] and after["warnings"] == []
    assert after["metrics"]["accuracy"] < 0.8
    assert "alone predicts the label" in leaky.summary["text"]


def test_planted_lines_of_a_real_dpkg_log_rank_in_the_top_ten(api, celery_worker):
    task = completed(
        submit_with_files(
            api,
            {"dpkg.log": dpkg_log_with_planted_lines()},
            task_type=TaskType.ANOMALY_DETECTION,
            agents=["ml"],
            parameters={"ml": {"top": 10}},
        )
    )

    top = Result.objects.get(task=task, agent="ml").data["anomalies"][0]["top"]
    assert set(PLANTED) <= {t["line"] for t in top}
