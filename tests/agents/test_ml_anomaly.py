"""Anomaly detection: the planted outliers of a table and the planted lines of a log are the top
anomalies, each explained by the features that carry it."""

import pytest

from apps.agents.ml import MLAgent
from apps.core.vocabulary import TaskType
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def detect(organization, files, **params):
    return run_on_files(MLAgent, organization, files, task_type=TaskType.ANOMALY_DETECTION, **params)


def test_planted_table_outliers_are_the_top_anomalies(organization):
    run = detect(organization, {"metrics.csv": ff.metrics_csv()})

    result = run.data["anomalies"][0]
    assert run.data["mode"] == "anomaly" and result["method"] == "isolation_forest"
    assert set(result["features"]) == {"cpu", "latency_ms", "requests", "bytes_out"}
    assert set(result["ignored_columns"]) == {"date", "host", "status"}
    top = result["top"][:3]
    assert sorted(t["row"] for t in top) == sorted(ff.OUTLIER_ROWS)
    for anomaly in top:
        assert anomaly["flagged"] is True
        assert {e["feature"] for e in anomaly["explanation"][:2]} == {"latency_ms", "bytes_out"}
        assert anomaly["explanation"][0]["robust_z"] > 10
    assert result["top"][3]["score"] < top[-1]["score"]
    assert "most anomalous: row" in run.result.summary


def test_results_are_reproducible(organization):
    first = detect(organization, {"metrics.csv": ff.metrics_csv()}).data["anomalies"][0]["top"]
    second = detect(organization, {"metrics.csv": ff.metrics_csv()}).data["anomalies"][0]["top"]
    assert first == second


def test_robust_z_method(organization):
    run = detect(
        organization, {"metrics.csv": ff.metrics_csv()}, method="robust_z", exclude_columns=["requests"]
    )
    result = run.data["anomalies"][0]
    assert result["method"] == "robust_z" and "requests" not in result["features"]
    assert sorted(t["row"] for t in result["top"][:3]) == sorted(ff.OUTLIER_ROWS)


def test_planted_log_lines_are_the_top_anomalies(organization):
    log, planted = ff.auth_log()
    run = detect(organization, {"auth.log": log})

    result = run.data["anomalies"][0]
    assert result["kind"] == "log" and result["lines_scored"] == 600
    top = result["top"][:3]
    assert sorted(t["line"] for t in top) == planted
    lines = log.splitlines()
    for anomaly in top:
        assert anomaly["text"] == lines[anomaly["line"]]
        assert anomaly["template_count"] == 1
        assert anomaly["explanation"][0]["feature"] in {"template_rarity", "program_rarity", "alarm_words"}
    assert {t["template"] for t in result["top_templates"][:2]} == {
        "nginx: <ip> GET <path> <num> <num>",
        "sshd: Connection closed by <ip> port <num> [preauth]",
    }


def test_too_little_data_fails_cleanly(organization):
    run = detect(organization, {"tiny.log": "one line\nand another\n"})
    assert run.result.status == "failed"
    assert "too few" in run.result.error_message


def test_row_limit(organization, settings):
    settings.AMAS_ML_MAX_ROWS = 100
    run = detect(organization, {"metrics.csv": ff.metrics_csv()})
    result = run.data["anomalies"][0]
    assert result["rows_scored"] == 100
    assert result["top"][0]["row"] == ff.OUTLIER_ROWS[0]  # the only planted outlier within the first 100 rows


def test_contamination_sets_how_many_are_flagged(organization):
    auto = detect(organization, {"metrics.csv": ff.metrics_csv()}).data["anomalies"][0]
    fixed = detect(organization, {"metrics.csv": ff.metrics_csv()}, contamination=0.01).data["anomalies"][0]
    assert fixed["flagged"] == 4  # 1 % of 400 rows
    assert 3 <= auto["flagged"] < 40  # only rows whose score stands out among the scores
