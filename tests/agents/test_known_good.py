"""Known-good data out of the box: `manage.py known_good` imports dpkg's md5sums as a known-good
hash set and installs the shipped YARA rules; results say how many rules and hashes applied."""

import hashlib
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.agents.forensics.rules import yara_ruleset
from apps.core.vocabulary import TaskType
from apps.tasks.models import Result
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, submit_with_files, wait_for_task  # noqa: F401
from tests.agents.verdict_corpus import BAD, BENIGN, corpus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root", "celery_worker")]


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    return client


def analyse(api, files):
    response = submit_with_files(api, files, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"])
    task = wait_for_task(response.json()["id"])
    assert task.status == "completed", task.error_message
    return Result.objects.get(task=task, agent="forensics")


def test_dpkg_md5sums_make_an_installed_file_known_good(api, tmp_path):
    launcher = (Path(__file__).parent / "verdict_corpus.py").read_bytes()
    (tmp_path / "amas-test.md5sums").write_text(
        f"{hashlib.md5(launcher).hexdigest()}  usr/share/amas/verdict_corpus.py\n"
        "not-a-hash  usr/share/broken\n"
    )
    out = StringIO()
    call_command("known_good", "--dpkg", "--dpkg-info-dir", str(tmp_path), stdout=out)
    assert "1 added" in out.getvalue() and "1 invalid" in out.getvalue()

    run = analyse(api, {"verdict_corpus.py": launcher})
    assert run.data["verdict"] == "clean"
    assert run.data["applied"]["hashes"] == 1
    assert "amas-test: /usr/share/amas/verdict_corpus.py" in run.data["files"][0]["hash_sets"][0]["note"]
    assert "1 hash(es) applied" in run.summary


def test_the_shipped_yara_rules_flag_bad_samples_and_spare_benign_ones(api, settings):
    settings.AMAS_MAX_FILES_PER_TASK = 50
    out = StringIO()
    call_command("known_good", "--yara", stdout=out)
    assert "amas-builtin at version 1" in out.getvalue()
    # `make run` installs them on every start: an unchanged file makes no new revision.
    out = StringIO()
    call_command("known_good", "--yara", stdout=out)
    assert "amas-builtin at version 1" in out.getvalue()
    ruleset = yara_ruleset()
    assert ruleset.rule_count == 6 and not ruleset.errors

    samples = corpus()
    benign = {s.name: s.data for s in samples if s.label == BENIGN and not s.name.endswith((".whl", ".gz"))}
    run = analyse(api, benign)
    matched = {
        f["file"] for f in run.data["findings"] if f["rule"] == "yara_match" and f["severity"] != "info"
    }
    assert matched == set()
    assert run.data["applied"]["yara_rules"] == 6

    bad = {"invoice-js.pdf": ff.pdf_with_javascript(launch=False), "x.exe": ff.small_pe()}
    run = analyse(api, bad)
    titles = {f["title"] for f in run.data["findings"] if f["rule"] == "yara_match"}
    assert {
        "YARA rule amas-builtin.pdf_javascript_on_open",
        "YARA rule amas-builtin.pe_process_injection_imports",
    } <= titles
    assert [s for s in samples if s.label == BAD]
