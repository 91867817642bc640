"""Findings an analyst can trust, on a real Celery worker through the API: a verdict says 'clean'
or 'none' only when every check ran; gaps are named with their reason; network facts say which
kind of failure they are; AI text names its writer and the Result's tokens are the ledger's."""

import io
import json
import zipfile
from http import HTTPStatus
from pathlib import Path

import pip
import pytest
from django.db.models import Sum
from django.test import override_settings

from apps.core.vocabulary import TaskType
from apps.providers.models import ProviderCall
from apps.tasks.models import Result
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, submit_with_files, wait_for_task  # noqa: F401
from tests.agents.servers import dns_server, free_closed_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root", "celery_worker")]

ROOT_SOA = ". 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 2026112900 1800 900 604800 86400\n"


@pytest.fixture
def api(client, analyst):
    client.force_login(analyst)
    return client


def run(api, files=None, **payload):
    response = submit_with_files(api, files or {}, **payload)
    assert response.status_code == HTTPStatus.CREATED, response.content
    task = wait_for_task(response.json()["id"])
    assert task.status == "completed", task.error_message
    return task


def result_of(task, agent):
    return Result.objects.get(task=task, agent=agent)


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def reasons(data):
    return set(data["coverage"]["reasons"])


# --- limits never hide content -------------------------------------------------------------------


def test_padding_an_archive_past_the_cap_does_not_hide_a_disguised_executable(api, settings):
    settings.AMAS_ARCHIVE_MAX_MEMBERS = 5
    padding = [(f"notes/{i:02}.txt", f"meeting notes {i}\n".encode()) for i in range(12)]
    archive = zip_bytes([*padding, ("invoice.pdf.exe", ff.small_pe())])
    task = run(api, {"bundle.zip": archive}, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"])

    data = result_of(task, "forensics").data
    assert data["verdict"] == "suspicious"
    hidden = [f for f in data["findings"] if f["rule"] == "archive_hidden_members"]
    assert hidden and "invoice.pdf.exe" in hidden[0]["detail"] and hidden[0]["severity"] == "high"
    assert data["coverage"]["complete"] is False and "limit_hit" in reasons(data)


def test_an_archive_cut_short_by_its_cap_is_incomplete_not_clean(api, settings):
    settings.AMAS_ARCHIVE_MAX_MEMBERS = 5
    archive = zip_bytes([(f"notes/{i:02}.txt", f"meeting notes {i}\n".encode()) for i in range(12)])
    task = run(api, {"notes.zip": archive}, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"])

    data = result_of(task, "forensics").data
    assert data["verdict"] == "incomplete"
    assert "limit_hit" in reasons(data)
    assert "coverage incomplete" in task.summary["text"].lower() or "not everything was checked" in (
        task.summary["text"].lower()
    )


def test_a_small_nested_zip_bomb_is_stopped_and_reported(api):
    leaf = b"\0" * (1024 * 1024 - 1)
    level1 = zip_bytes([(f"{i}.bin", leaf) for i in range(16)])
    level2 = zip_bytes([(f"{i}.zip", level1) for i in range(16)])
    bomb = zip_bytes([(f"{i}.zip", level2) for i in range(16)])
    assert len(bomb) < 32 * 1024

    task = run(api, {"bomb.zip": bomb}, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"])
    data = result_of(task, "forensics").data
    assert data["verdict"] == "suspicious"
    assert "archive_bomb" in {f["rule"] for f in data["findings"]}
    assert "limit_hit" in reasons(data)


# --- bad input: a per-parser gap, a completed task -----------------------------------------------


def test_truncated_files_give_per_parser_gaps_and_a_completed_task(api):
    pe, pdf, jpeg = ff.small_pe(), ff.pdf_plain(["Quarterly report"] * 40), ff.jpeg_with_gps()
    archive = zip_bytes([(f"doc{i}.txt", b"hello world\n" * 50) for i in range(4)])
    files = {
        "setup.exe": pe[: len(pe) // 2],
        "report.pdf": pdf[: len(pdf) // 2],
        "photo.jpg": jpeg[: len(jpeg) // 2],
        "bundle.zip": archive[: len(archive) // 2],
    }
    task = run(api, files, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"])

    result = result_of(task, "forensics")
    assert result.status == "completed"
    gaps = {f["name"]: f["coverage"] for f in result.data["files"]}
    for name in files:
        assert gaps[name]["complete"] is False, name
        assert "parser_error" in gaps[name]["reasons"], (name, gaps[name])
    assert result.data["verdict"] != "clean"


# --- calibration ---------------------------------------------------------------------------------


def test_pips_own_windows_launcher_is_not_suspicious(api):
    launcher = Path(pip.__file__).parent / "_vendor" / "distlib" / "w64.exe"
    task = run(
        api, {"w64.exe": launcher.read_bytes()}, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"]
    )
    data = result_of(task, "forensics").data
    assert data["verdict"] not in ("suspicious", "malicious"), data["files"][0]["verdict_reasons"]
    assert not [i for i in data["files"][0].get("indicators", []) if i["kind"] == "ipv4"]


# --- network facts -------------------------------------------------------------------------------


def test_a_scan_that_reached_nothing_is_not_assessed(api):
    url = f"http://127.0.0.1:{free_closed_port()}/"
    with override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"]):
        task = run(api, title="scan", task_type="security_scan", target=url, agents=["security"])

    data = result_of(task, "security").data
    assert data["risk_level"] == "not_assessed" and data["risk_score"] is None
    assert data["coverage"]["checked"] == []
    assert "unreachable" in reasons(data)
    assert "not assessed" in result_of(task, "security").summary


def resolver_allowed(resolver):
    """A task may name a resolver an admin allows, on an address the egress policy allows."""
    return override_settings(AMAS_EGRESS_ALLOWLIST=["127.0.0.1"], AMAS_DNS_RESOLVERS_ALLOWED=[resolver])


def test_a_resolver_that_denies_everything_is_not_believed(api, settings):
    with dns_server("") as (resolver, _), resolver_allowed(resolver):
        params = {"osint": {"resolvers": [resolver], "rdap": False, "narrative": False}}
        settings.AMAS_DNS_RESOLVERS_ALLOWED = [resolver]  # a task may name only allowed resolvers
        settings.AMAS_EGRESS_ALLOWLIST = ["127.0.0.1"]
        task = run(
            api,
            title="who",
            task_type="investigation",
            target="example.org",
            agents=["osint"],
            parameters=params,
        )

    result = result_of(task, "osint")
    dns = result.data["dns"]
    assert dns["status"] == "resolver_unusable" and dns["exists"] is None
    assert "resolver_unusable" in reasons(result.data)
    assert "does not exist" not in result.summary
    assert "The name does not exist in DNS" not in {f["title"] for f in result.data["findings"]}


def test_an_nxdomain_from_a_credible_resolver_is_stated(api, settings):
    with (
        dns_server(ROOT_SOA + "example.org. 300 IN A 192.0.2.1\n") as (resolver, _),
        resolver_allowed(resolver),
    ):
        params = {"osint": {"resolvers": [resolver], "rdap": False, "narrative": False}}
        settings.AMAS_DNS_RESOLVERS_ALLOWED = [resolver]  # a task may name only allowed resolvers
        settings.AMAS_EGRESS_ALLOWLIST = ["127.0.0.1"]
        task = run(
            api,
            title="who",
            task_type="investigation",
            target="nothere.example.org",
            agents=["osint"],
            parameters=params,
        )

    result = result_of(task, "osint")
    assert result.data["dns"]["status"] == "nxdomain" and result.data["dns"]["exists"] is False
    assert "does not exist in DNS" in result.summary


# --- honest AI text ------------------------------------------------------------------------------


def test_narration_names_its_writer_never_echoes_the_prompt_and_tokens_match_the_ledger(api):
    task = run(
        api, {"invoice.pdf": ff.pdf_with_javascript()}, task_type=TaskType.FILE_ANALYSIS, agents=["forensics"]
    )
    result = result_of(task, "forensics")
    narrative = result.data["narrative"]
    assert "Write a short narrative" not in narrative and "Do not change the verdict" not in narrative

    writers = {(g["purpose"], g["model"]) for g in result.data["generated_by"]}
    assert ("forensics", "builtin-extractive") in writers
    assert all(g["provider"] for g in result.data["generated_by"])

    ledger = ProviderCall.objects.filter(step=result.step).aggregate(i=Sum("tokens_in"), o=Sum("tokens_out"))
    assert ledger["i"] > 0
    assert (result.tokens_in, result.tokens_out) == (ledger["i"], ledger["o"])
    api_result = next(
        r for r in api.get(f"/api/v1/tasks/{task.id}/results").json() if r["agent"] == "forensics"
    )
    assert (api_result["tokens_in"], api_result["tokens_out"]) == (ledger["i"], ledger["o"])
    assert json.dumps(api_result["data"]["generated_by"])  # attribution is in the API too
