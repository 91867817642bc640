"""The analysis agent on tables: types, statistics, planted outliers, correlation and trend,
charts as PNG artefacts; malformed tables fail cleanly."""

import io
import json
import statistics

import pytest

from apps.agents.analysis import AnalysisAgent
from apps.core.vocabulary import TaskType
from apps.knowledge.models import Artefact
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def analyse(organization, files, **params):
    return run_on_files(AnalysisAgent, organization, files, task_type=TaskType.DATA_ANALYSIS, **params)


def column(table, name):
    return next(c for c in table["columns"] if c["name"] == name)


def test_csv_profile_outliers_correlation_trend(organization):
    csv_text = ff.metrics_csv()
    run = analyse(organization, {"metrics.csv": csv_text})
    table = run.data["tables"][0]

    assert table["rows"] == 400
    types = {c["name"]: c["type"] for c in table["columns"]}
    assert types == {
        "date": "datetime",
        "host": "categorical",
        "cpu": "float",
        "latency_ms": "float",
        "requests": "integer",
        "bytes_out": "integer",
        "status": "categorical",
    }
    cpu = column(table, "cpu")
    assert cpu["missing"] == 8  # rows 5, 55, ..., 355
    values = [float(line.split(",")[2]) for line in csv_text.splitlines()[1:] if line.split(",")[2]]
    assert cpu["mean"] == pytest.approx(statistics.fmean(values), abs=1e-6)
    assert cpu["std"] == pytest.approx(statistics.stdev(values), abs=1e-6)
    assert cpu["median"] == pytest.approx(statistics.median(values), abs=1e-6)
    assert {t["value"] for t in column(table, "host")["top_values"]} == {"web-1", "web-2", "web-3"}

    # the planted outliers are the top outlier rows, flagged in both latency and bytes
    top = table["outliers"]["rows"][:3]
    assert sorted(r["row"] for r in top) == sorted(ff.OUTLIER_ROWS)
    assert all({c["column"] for c in r["columns"]} >= {"latency_ms", "bytes_out"} for r in top)
    latency = next(o for o in table["outliers"]["columns"] if o["column"] == "latency_ms")
    assert [r["row"] for r in latency["rows"][:3]] and set(ff.OUTLIER_ROWS) <= {
        r["row"] for r in latency["rows"]
    }

    strong = {(s["a"], s["b"]): s for s in table["correlations"]["strong"]}
    assert strong[("cpu", "latency_ms")]["rho"] > 0.8  # planted: latency follows cpu
    # latency and bytes only move together in the three outlier rows: Pearson says strong, ranks do not
    assert strong[("latency_ms", "bytes_out")]["outlier_driven"] is True
    assert table["correlations"]["strong"][0]["a"] == "cpu"

    trend = {c["column"]: c for c in table["trend"]["columns"]}
    assert table["trend"]["date_column"] == "date" and table["trend"]["period"] == "week"
    assert trend["requests"]["direction"] == "increasing"
    assert trend["requests"]["slope_per_day"] == pytest.approx(5.0, rel=0.05)
    assert trend["cpu"]["direction"] == "flat"
    assert "requests increasing" in run.result.summary


def test_charts_are_png_artefacts(organization):
    run = analyse(organization, {"metrics.csv": ff.metrics_csv()})
    charts = run.data["tables"][0]["charts"]
    assert {c["kind"] for c in charts} == {"histograms", "correlation", "trend", "top-values"}
    for chart in charts:
        artefact = Artefact.objects.get(id=chart["artefact_id"])
        assert artefact.produced_by_agent == "analysis" and artefact.step_id == run.step.id
        assert artefact.detected_type == "image/png"
        with artefact.file.open("rb") as fh:
            from PIL import Image

            image = Image.open(io.BytesIO(fh.read()))
            assert image.width > 200 and image.height > 100


def test_rerun_of_a_step_replaces_its_charts(organization):
    from tests.agents.fixtures_runner import agent_context

    run = analyse(organization, {"metrics.csv": ff.metrics_csv()})
    first = set(Artefact.objects.filter(step=run.step).values_list("id", flat=True))
    # the same step again, as a re-delivered Celery message would run it
    AnalysisAgent().run(agent_context(run.task, run.step, AnalysisAgent.Params()))
    second = set(Artefact.objects.filter(step=run.step).values_list("id", flat=True))
    assert len(second) == len(first) and not first & second


def test_json_lines_and_excel(organization):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["when", "amount", "region"])
    from datetime import datetime, timedelta

    for i in range(30):
        sheet.append([datetime(2024, 1, 1) + timedelta(days=i), 100 + 10 * i, "north" if i % 2 else "south"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    run = analyse(organization, {"rows.jsonl": ff.jsonl_rows(), "sales.xlsx": buffer.getvalue()})

    jsonl, xlsx = run.data["tables"]
    assert jsonl["format"] == "jsonl" and jsonl["rows"] == 50
    assert {c["name"]: c["type"] for c in jsonl["columns"]} == {
        "id": "integer",
        "score": "float",
        "tag": "categorical",
    }
    assert xlsx["format"] == "xlsx" and xlsx["rows"] == 30
    assert column(xlsx, "when")["type"] == "datetime"
    amount = {c["column"]: c for c in xlsx["trend"]["columns"]}["amount"]
    assert amount["slope_per_day"] == pytest.approx(10.0)
    assert amount["r2"] == pytest.approx(1.0)


def test_date_column_parameter(organization):
    run = analyse(organization, {"metrics.csv": ff.metrics_csv()}, date_column="nope", charts=False)
    table = run.data["tables"][0]
    assert table["trend"] is None and "date column 'nope' not found" in table["notes"]
    assert table["charts"] == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty"),
        ("header.csv", "a,b,c\n", "no data rows"),
        ("ragged.csv", "a,b,c\n1\n2,3,4,5,6\n7\n8,9\n", "do not have 3 fields"),
        ("bad.jsonl", "not json\nnor this\n", "no JSON objects"),
        ("bad.json", "[1, 2", "not valid JSON"),
        ("bad.xlsx", b"PK\x03\x04 broken", "unreadable Excel workbook"),
    ],
)
def test_malformed_tables_fail_cleanly(organization, name, content, message):
    run = analyse(organization, {name: content})
    assert run.result.status == "failed"
    assert message in run.result.error_message


def test_row_limit_is_applied(organization, settings):
    settings.AMAS_ANALYSIS_MAX_ROWS = 100
    run = analyse(organization, {"metrics.csv": ff.metrics_csv()})
    table = run.data["tables"][0]
    assert table["rows"] == 100 and table["truncated"] is True
    assert "only the first 100 rows were read" in table["notes"]


def test_result_is_json_serialisable(organization):
    run = analyse(
        organization, {"metrics.csv": ff.metrics_csv(), "report.txt": ff.report_text()}, mode="auto"
    )
    json.dumps(run.data)
    assert len(run.data["tables"]) == 1 and len(run.data["documents"]) == 1
