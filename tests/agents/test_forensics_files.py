"""The forensics agent on single files with planted evidence."""

import hashlib

import pytest

from apps.agents.forensics import ForensicsAgent
from apps.core.vocabulary import TaskType
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

# transaction=True: uploads are staged and moved into storage on commit (artefact_create).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def scan(organization, files, **params):
    return run_on_files(ForensicsAgent, organization, files, task_type=TaskType.FILE_ANALYSIS, **params)


def events(run, text):
    return [e for e in run.data["timeline"] if text in e["event"]]


def rules_of(node):
    return {f["rule"] for f in node["all_findings"]} if "all_findings" in node else None


def finding_rules(run):
    return {f["rule"] for f in run.data["findings"]}


def test_image_exif_and_gps(organization):
    data = ff.jpeg_with_gps()
    run = scan(organization, {"holiday.jpg": data})

    node = run.data["files"][0]
    assert node["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert node["hashes"]["md5"] == hashlib.md5(data).hexdigest()
    assert node["hashes"]["sha512"] == hashlib.sha512(data).hexdigest()
    assert node["hashes"]["ssdeep"].count(":") == 2
    assert node["type"]["mime"] == "image/jpeg"
    assert node["extension"]["mismatch"] is False
    image = node["metadata"]["image"]
    assert image["camera"] == "Canon Canon EOS 5D"
    assert image["software"] == "PlantedSoft 1.0"
    assert image["gps"]["latitude"] == pytest.approx(ff.GPS_LATITUDE, abs=1e-4)
    assert image["gps"]["longitude"] == pytest.approx(ff.GPS_LONGITUDE, abs=1e-4)
    assert "openstreetmap.org" in image["gps"]["map_url"]
    assert [e["timestamp"] for e in events(run, "image taken")] == ["2021-03-04T05:06:07Z"]
    assert events(run, "uploaded to AMAS")
    assert "image_gps" in finding_rules(run)
    assert run.data["verdict"] == "clean"
    assert run.result.status == "completed"


def test_pdf_with_javascript_and_launch_action(organization):
    run = scan(organization, {"invoice.pdf": ff.pdf_with_javascript()})

    node = run.data["files"][0]
    pdf = node["metadata"]["pdf"]
    assert pdf["javascript"] == [ff.PDF_JAVASCRIPT]
    assert pdf["launch_actions"] == [ff.PDF_LAUNCH]
    assert pdf["open_action"] == "/Launch"
    assert pdf["keywords"]["/JavaScript"] >= 1
    assert pdf["info"]["Author"] == ff.PDF_AUTHOR
    assert pdf["pages"] == 1
    assert {"pdf_javascript", "pdf_launch", "pdf_auto_action"} <= finding_rules(run)
    # +01'00' is normalised to UTC
    assert [e["timestamp"] for e in events(run, "document created")] == ["2020-01-02T03:04:05Z"]
    assert [e["timestamp"] for e in events(run, "document modified")] == ["2020-01-02T23:00:00Z"]
    assert run.data["verdict"] == "suspicious"
    assert "PDF contains JavaScript" in run.result.summary


def test_plain_pdf_is_clean(organization):
    run = scan(organization, {"notes.pdf": ff.pdf_plain(["Meeting notes", "Nothing to see"])})
    assert run.data["verdict"] == "clean"
    assert run.data["files"][0]["metadata"]["pdf"]["javascript"] == []


def test_docx_with_macro(organization):
    run = scan(organization, {"report.docx": ff.docx(macro=True)})

    node = run.data["files"][0]
    assert node["type"]["label"] == "Word document"
    office = node["metadata"]["office"]
    assert office["macros"]["present"] is True
    assert office["macros"]["vba_parts"] == ["word/vbaProject.bin"]
    assert office["core_properties"]["creator"] == ff.DOCX_CREATOR
    assert office["app_properties"]["Company"] == ff.DOCX_COMPANY
    assert [e["timestamp"] for e in events(run, "document created")] == ["2019-05-06T07:08:09Z"]
    assert "office_macros" in finding_rules(run)
    assert run.data["verdict"] == "suspicious"


def test_docx_with_remote_template(organization):
    run = scan(organization, {"cv.docx": ff.docx(remote_template="http://templates.example.com/t.dotm")})
    assert "office_remote_template" in finding_rules(run)
    assert run.data["files"][0]["metadata"]["office"]["external_relationships"][0]["target"] == (
        "http://templates.example.com/t.dotm"
    )


def test_docx_without_macro_is_clean(organization):
    run = scan(organization, {"report.docx": ff.docx()})
    assert run.data["files"][0]["metadata"]["office"]["macros"]["present"] is False
    assert run.data["verdict"] == "clean"


def test_small_pe(organization):
    run = scan(organization, {"tool.exe": ff.small_pe()})

    node = run.data["files"][0]
    assert node["type"]["label"] == "PE executable"
    pe = node["metadata"]["pe"]
    assert pe["compile_time"] == "2020-01-02T03:04:05Z"
    assert pe["machine"] == "IMAGE_FILE_MACHINE_I386"
    assert pe["imports"] == {"KERNEL32.dll": list(ff.PE_IMPORTS)}
    assert pe["suspicious_apis"]["process_injection"] == sorted(ff.PE_IMPORTS)
    assert [s["name"] for s in pe["sections"]] == [".text", ".idata"]
    assert pe["imphash"]
    indicators = {(i["kind"], i["value"]) for i in node["indicators"]}
    assert ("url", ff.PE_EMBEDDED_URL) in indicators
    assert ("domain", "malware.example.net") in indicators
    url = next(i for i in node["indicators"] if i["kind"] == "url")
    assert url["offset"] == 0x200 + 0x20  # file offset of the URL in .text
    assert any(
        s["value"] == "Global\\PlantedMutex" and s["encoding"] == "utf-16le"
        for s in node["strings"]["interesting"]
        + [{"value": v, "encoding": "utf-16le"} for v in node["strings"]["sample"]]
    )
    assert [e["timestamp"] for e in events(run, "PE compile time")] == ["2020-01-02T03:04:05Z"]
    assert "pe_injection_apis" in finding_rules(run)
    assert run.data["verdict"] == "suspicious"
    kinds = {(e.kind, e.value) for e in run.result.entities}
    assert ("url", ff.PE_EMBEDDED_URL) in kinds
    assert ("file", node["hashes"]["sha256"]) in kinds


def test_pe_without_findings_is_unknown(organization):
    run = scan(organization, {"calc.exe": ff.small_pe(imports=("GetTickCount",))})
    assert run.data["files"][0]["metadata"]["pe"]["suspicious_apis"] == {}
    assert run.data["verdict"] == "unknown"


def test_lying_extension(organization):
    run = scan(
        organization, {"holiday.jpg": ff.small_pe(imports=("GetTickCount",)), "scan.txt": ff.png_plain()}
    )

    exe, png = run.data["files"]
    assert exe["type"]["label"] == "PE executable"
    assert exe["extension"] == {
        "extension": "jpg",
        "expected_extensions": ["exe", "scr", "com", "cpl"],
        "mismatch": True,
        "risky": True,
        "double_extension": False,
    }
    assert png["type"]["mime"] == "image/png" and png["extension"]["mismatch"] is True
    rules = finding_rules(run)
    assert {"extension_masquerade", "extension_mismatch"} <= rules
    assert exe["verdict"] == "suspicious" and png["verdict"] == "suspicious"


def test_entropy_separates_text_from_random(organization):
    import random

    noise = random.Random(1).randbytes(64 * 1024)
    run = scan(organization, {"notes.txt": ff.report_text() * 50, "blob.bin": noise})
    text, blob = run.data["files"]
    assert 3.5 < text["entropy"]["overall"] < 5.5
    assert blob["entropy"]["overall"] > 7.9
    assert blob["entropy"]["high_entropy_ratio"] == 1.0
    assert "high_entropy_unknown" in {f["rule"] for f in blob["findings"]}


def test_report_artefact_holds_every_string(organization):
    run = scan(organization, {"tool.exe": ff.small_pe()})
    from apps.knowledge.models import Artefact

    report = Artefact.objects.get(id=run.data["report_artefact_id"])
    assert report.produced_by_agent == "forensics" and report.step == run.step
    import json

    with report.file.open("rb") as fh:
        full = json.load(fh)
    assert any(s["value"] == ff.PE_EMBEDDED_URL for s in full["files"][0]["strings"]["items"])


def test_nothing_to_analyse_is_a_clean_failure(organization):
    run = scan(
        organization,
        {},
    )
    assert run.result.status == "failed"
    assert "attach files or give a hash" in run.result.error_message
