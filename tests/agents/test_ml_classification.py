"""Classification: train on a labelled CSV, save the model as a signed artefact, apply it in a
later task; tampered or foreign models are refused."""

import random

import pytest

from apps.agents.ml import MLAgent
from apps.agents.ml.classify import MODEL_MAGIC
from apps.core.vocabulary import TaskType
from apps.knowledge.models import Artefact
from apps.knowledge.services import artefact_create
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401
from tests.commits import commit_callbacks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def classify(organization, files, **params):
    return run_on_files(MLAgent, organization, files, task_type=TaskType.CLASSIFICATION, **params)


def unlabelled(csv_text):
    return "\n".join(line.rsplit(",", 1)[0] for line in csv_text.splitlines()) + "\n"


def test_train_reports_metrics_and_saves_the_model(organization):
    run = classify(organization, {"flows.csv": ff.labelled_csv()})

    result = run.data["classification"]
    assert result["label_column"] == "label"
    assert result["features"] == {
        "bytes": "numeric",
        "failed_logins": "numeric",
        "duration": "numeric",
        "protocol": "categorical",
    }
    assert result["rows"] == {"labelled": 300, "train": 225, "test": 75}
    metrics = result["metrics"]
    assert metrics["accuracy"] >= 0.95 and metrics["f1_macro"] >= 0.95
    assert metrics["confusion_matrix"]["labels"] == ["attack", "normal"]
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 75
    # importances under the columns' own names, one-hot categories as column=value
    assert result["feature_importance"][0]["feature"] in ("bytes", "failed_logins")
    assert {f["feature"] for f in result["feature_importance"]} >= {"duration", "protocol=tcp"}
    # the fixture's classes sit ten standard deviations apart in `bytes`: one column alone does
    # separate them, and the warning says so; nothing else is wrong with this table
    assert {(w["kind"], w["column"]) for w in result["warnings"]} <= {
        ("label_leakage", "bytes"),
        ("label_leakage", "failed_logins"),
    }
    cv = result["cross_validation"]
    assert cv["folds"] == 5 and cv["accuracy_mean"] >= 0.95 and cv["accuracy_std"] < 0.05
    assert f"5-fold cross-validated accuracy {cv['accuracy_mean']}" in run.result.summary
    model = Artefact.objects.get(id=result["model_artefact_id"])
    assert model.produced_by_agent == "ml" and model.original_name == "model-label.joblib"
    with model.file.open("rb") as fh:
        assert fh.read().startswith(MODEL_MAGIC)


def test_training_is_reproducible(organization):
    first = classify(organization, {"flows.csv": ff.labelled_csv()}).data["classification"]["metrics"]
    second = classify(organization, {"flows.csv": ff.labelled_csv()}).data["classification"]["metrics"]
    assert first == second


def test_a_later_task_applies_the_model(organization):
    trained = classify(organization, {"flows.csv": ff.labelled_csv()})
    model_id = trained.data["classification"]["model_artefact_id"]
    fresh = ff.labelled_csv(rows=80, seed=99)

    run = classify(organization, {"new.csv": unlabelled(fresh)}, model_artefact_id=model_id)
    prediction = run.data["prediction"]
    assert prediction["rows"] == 80 and prediction["model_artefact_id"] == model_id
    truth = [line.rsplit(",", 1)[1] for line in fresh.splitlines()[1:]]
    agreed = sum(p["label"] == t for p, t in zip(prediction["predictions"], truth, strict=True))
    assert agreed / 80 >= 0.95
    assert "metrics" not in prediction  # no labels given
    output = Artefact.objects.get(id=prediction["predictions_artefact_id"])
    with output.file.open("rb") as fh:
        assert fh.read().decode().splitlines()[0] == "row,predicted_label,confidence"

    with_labels = classify(organization, {"new.csv": fresh}, model_artefact_id=model_id)
    assert with_labels.data["prediction"]["metrics"]["accuracy"] >= 0.95


def test_model_of_another_organization_is_not_found(organization):
    from apps.users.services import organization_get_or_create

    trained = classify(organization, {"flows.csv": ff.labelled_csv()})
    other = organization_get_or_create(name="Elsewhere")
    run = classify(
        other,
        {"new.csv": ff.labelled_csv(rows=20)},
        model_artefact_id=trained.data["classification"]["model_artefact_id"],
    )
    assert run.result.status == "failed" and "No model artefact" in run.result.error_message


def test_tampered_model_is_never_loaded(organization):
    trained = classify(organization, {"flows.csv": ff.labelled_csv()})
    model = Artefact.objects.get(id=trained.data["classification"]["model_artefact_id"])
    with model.file.open("rb") as fh:
        data = bytearray(fh.read())
    data[-10] ^= 0xFF
    from django.core.files.base import ContentFile

    with commit_callbacks():
        forged = artefact_create(
            task=trained.task, file=ContentFile(bytes(data), name="model.joblib"), produced_by_agent="ml"
        )
    run = classify(organization, {"new.csv": ff.labelled_csv(rows=20)}, model_artefact_id=str(forged.id))
    assert run.result.status == "failed" and "signature does not verify" in run.result.error_message


def test_uploaded_file_is_not_a_model(organization):
    task_run = classify(organization, {"flows.csv": ff.labelled_csv()})
    upload = task_run.task.artefacts.get(produced_by_agent="")
    run = classify(organization, {"new.csv": ff.labelled_csv(rows=20)}, model_artefact_id=str(upload.id))
    assert run.result.status == "failed" and "No model artefact" in run.result.error_message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"label_column": "nope"}, "label column 'nope' not found"),
        ({"label_column": "protocol", "feature_columns": ["ghost"]}, "feature column(s) not found: ghost"),
    ],
)
def test_bad_parameters_fail_cleanly(organization, params, message):
    run = classify(organization, {"flows.csv": ff.labelled_csv()}, **params)
    assert run.result.status == "failed" and message in run.result.error_message


def test_single_class_fails_cleanly(organization):
    run = classify(organization, {"one.csv": "a,label\n1,x\n2,x\n3,x\n"})
    assert run.result.status == "failed" and "single class" in run.result.error_message


def overlapping_with_leak(rows: int = 300, seed: int = 5) -> str:
    """A hard problem (the classes overlap in every genuine column) plus the label again under
    another name: `verdict_code` is A for attack, N for normal."""
    rng = random.Random(seed)
    lines = ["bytes,duration,protocol,verdict_code,label"]
    for _ in range(rows):
        attack = rng.random() < 0.4
        lines.append(
            f"{rng.gauss(55_000 if attack else 50_000, 20_000):.0f},{abs(rng.gauss(30, 10)):.1f},"
            f"{rng.choice(['tcp', 'udp'])},{'A' if attack else 'N'},{'attack' if attack else 'normal'}"
        )
    return "\n".join(lines) + "\n"


def test_a_leaking_column_is_reported_and_exclude_columns_removes_it(organization):
    leaky = overlapping_with_leak()

    run = classify(organization, {"flows.csv": leaky})
    result = run.data["classification"]
    assert "verdict_code" in result["features"]
    assert result["metrics"]["accuracy"] == 1.0
    leaks = [w for w in result["warnings"] if w["kind"] == "label_leakage"]
    assert [(w["column"], w["accuracy_alone"]) for w in leaks] == [("verdict_code", 1.0)]
    assert "'verdict_code' alone predicts the label" in run.result.summary

    run = classify(organization, {"flows.csv": leaky}, exclude_columns=["verdict_code"])
    result = run.data["classification"]
    assert "verdict_code" not in result["features"] and result["excluded_columns"] == ["verdict_code"]
    assert result["warnings"] == []
    assert result["metrics"]["accuracy"] < 0.8  # what the genuine columns can do


def test_exclude_columns_wins_over_feature_columns_and_the_label_is_never_a_feature(organization):
    run = classify(
        organization,
        {"flows.csv": ff.labelled_csv()},
        feature_columns=["bytes", "duration", "label"],
        exclude_columns=["duration"],
    )
    assert list(run.data["classification"]["features"]) == ["bytes"]


def test_a_first_row_of_data_is_reported(organization):
    headless = ff.labelled_csv().split("\n", 1)[1]  # the same table without its header row

    run = classify(organization, {"flows.csv": headless})
    warnings = run.data["classification"]["warnings"]
    header = [w for w in warnings if w["kind"] == "header_looks_like_data"]
    assert len(header) == 1 and len(header[0]["columns"]) >= 3
    assert "first row looks like data" in run.result.summary


def test_class_imbalance_is_reported(organization):
    lines = ff.labelled_csv(rows=600).splitlines()
    attacks = [line for line in lines[1:] if line.endswith("attack")][:20]
    normal = [line for line in lines[1:] if line.endswith("normal")]
    run = classify(organization, {"flows.csv": "\n".join([lines[0], *normal, *attacks]) + "\n"})

    result = run.data["classification"]
    imbalance = [w for w in result["warnings"] if w["kind"] == "class_imbalance"]
    assert len(imbalance) == 1 and imbalance[0]["minority_class"] == "attack"
    assert imbalance[0]["ratio"] == round(len(normal) / 20, 1)
