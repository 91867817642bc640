"""The analysis agent on documents: extraction from each format, language, keywords, the planted
key sentences in the summary, quotes with offsets, indicators; malformed input fails cleanly."""

from pathlib import Path

import pytest

from apps.agents.analysis import AnalysisAgent
from apps.core.vocabulary import TaskType
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import make_task, media_root, run_agent, run_on_files  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def analyse(organization, files, **params):
    return run_on_files(AnalysisAgent, organization, files, task_type=TaskType.DOCUMENT_ANALYSIS, **params)


def test_key_sentences_are_the_summary(organization):
    text = ff.report_text()
    run = analyse(organization, {"report.txt": text}, summary_sentences=3)

    document = run.data["documents"][0]
    summary = [s["text"] for s in document["summary"]["extractive"]]
    assert summary == ff.KEY_SENTENCES
    for item in document["summary"]["extractive"]:
        assert text[item["start"] : item["end"]] == item["text"]
    terms = [k["term"] for k in document["keywords"][:5]]
    assert "black lantern" in terms
    assert {"ransomware", "hospital"} & set(terms)
    assert document["language"]["code"] == "en"
    stats = document["statistics"]
    assert stats["sentences"] == 14  # a heading and 13 sentences
    assert 120 <= stats["words"] <= len(text.split())  # numbers are not words
    assert stats["paragraphs"] == 3
    assert run.result.summary.startswith("report.txt (English")


def test_key_points_have_supporting_quotes_with_offsets(organization):
    text = ff.report_text()
    run = analyse(organization, {"report.txt": text}, summary_sentences=3)
    points = run.data["documents"][0]["key_points"]
    assert [p["point"] for p in points] == ff.KEY_SENTENCES
    for point in points:
        assert point["quotes"][0]["text"] == point["point"]
        for quote in point["quotes"]:
            assert text[quote["start"] : quote["end"]] == quote["text"]
        # the other key sentences support each other (they share the subject), filler does not
        assert {q["text"] for q in point["quotes"][1:]} <= set(ff.KEY_SENTENCES)


def test_indicators_with_offsets(organization):
    text = (
        ff.report_text()
        + "\nContact: soc@example.org, C2 at 198.51.100.7 and hxxp://lantern-pay[.]example.com/x\n"
    )
    run = analyse(organization, {"report.md": text})
    indicators = {(i["kind"], i["value"]) for i in run.data["documents"][0]["indicators"]}
    assert {
        ("email", "soc@example.org"),
        ("ipv4", "198.51.100.7"),
        ("domain", "lantern-pay.example.com"),
        ("url", "http://lantern-pay.example.com/x"),
    } <= indicators
    assert ("ip", "198.51.100.7") in {(e.kind, e.value) for e in run.result.entities}


@pytest.mark.parametrize(
    ("text", "code"), [(ff.FRENCH_TEXT, "fr"), (ff.GERMAN_TEXT, "de"), (" ".join(ff.FILLER_SENTENCES), "en")]
)
def test_language_detection(organization, text, code):
    run = analyse(organization, {"doc.txt": text})
    assert run.data["documents"][0]["language"]["code"] == code


def test_every_document_format(organization):
    lines = ff.KEY_SENTENCES
    html = (
        "<html><head><title>t</title><style>p {color: red}</style><script>var x = 'noise';</script></head>"
        "<body>" + "".join(f"<p>{s}</p>" for s in lines) + "</body></html>"
    )
    files = {
        "a.pdf": ff.pdf_plain(lines),
        "b.docx": ff.docx(paragraphs=lines),
        "c.html": html,
        "d.md": "# Title\n\n" + "\n\n".join(f"* **{s}**" for s in lines),
    }
    run = analyse(organization, files)
    assert [d["format"] for d in run.data["documents"]] == ["pdf", "docx", "html", "markdown"]
    for document in run.data["documents"]:
        summary = " ".join(s["text"] for s in document["summary"]["extractive"])
        for sentence in lines:
            assert sentence in summary, (document["name"], summary)
    html_doc = run.data["documents"][2]
    assert "noise" not in " ".join(s["text"] for s in html_doc["summary"]["extractive"])


def test_target_text_without_files(organization):
    task = make_task(organization, task_type=TaskType.DOCUMENT_ANALYSIS, target=ff.report_text())
    run = run_agent(AnalysisAgent, task, summary_sentences=3)
    assert [s["text"] for s in run.data["documents"][0]["summary"]["extractive"]] == ff.KEY_SENTENCES


def test_malformed_documents_fail_cleanly(organization):
    run = analyse(organization, {"broken.pdf": b"%PDF-1.7\n garbage", "blob.bin": bytes(range(256)) * 10})
    assert run.result.status == "failed"
    assert "broken.pdf" in run.result.error_message and "blob.bin" in run.result.error_message
    assert len(run.data["errors"]) == 2


def test_one_bad_file_does_not_sink_the_others(organization):
    run = analyse(organization, {"good.txt": ff.report_text(), "broken.docx": b"PK\x03\x04 not a zip"})
    assert run.result.status == "completed"
    assert [d["name"] for d in run.data["documents"]] == ["good.txt"]
    assert run.data["errors"][0]["file"] == "broken.docx"


def test_progress_is_reported(organization):
    run = analyse(organization, {"a.txt": ff.report_text(), "b.txt": ff.FRENCH_TEXT})
    percents = [p for p, _ in run.progress]
    assert percents == sorted(percents) and percents[-1] == 100
    assert any("b.txt" in message for _, message in run.progress)


# ---------------------------------------------------------------------------- segmentation (issue 15)

TEXT_DATA = Path(__file__).resolve().parents[1] / "data" / "text"


def test_hard_wrapped_text_is_split_into_sentences_not_lines(organization):
    # the GPL-3 as Debian ships it (/usr/share/common-licenses/GPL-3): hard-wrapped at 72-76 columns
    text = (TEXT_DATA / "GPL-3.txt").read_text()
    run = analyse(organization, {"GPL-3.txt": text}, summary_sentences=5, abstractive=False)

    document = run.data["documents"][0]
    assert 200 <= document["statistics"]["sentences"] <= 215  # 595 when every line break ended one
    for item in document["summary"]["extractive"]:
        assert text[item["start"] : item["end"]] == item["text"]
        assert item["text"].rstrip('"').endswith((".", ":", ";")), item["text"]  # whole sentences
    for point in document["key_points"]:
        for quote in point["quotes"]:
            assert text[quote["start"] : quote["end"]] == quote["text"]


def test_readme_summary_skips_badges_and_navigation(organization):
    # the README of requests as published on PyPI, with its row of CI/PyPI badges on top
    readme = (TEXT_DATA / "requests-README.md").read_text()
    run = analyse(organization, {"README.md": readme}, summary_sentences=3, abstractive=False)

    summary = [s["text"] for s in run.data["documents"][0]["summary"]["extractive"]]
    from apps.agents.analysis.text import is_boilerplate

    assert len(summary) == 3 and summary[0].startswith("Requests ")
    assert not any(is_boilerplate(s) or s.startswith(("Version (", "Downloads (")) for s in summary)
    # before: "Version (https://pypi.org/project/requests/) Supported Versions (https://...)"
    assert run.result.summary.split("): ", 1)[1].startswith("Requests ")


def test_boilerplate_rules():
    from apps.agents.analysis.text import is_boilerplate

    assert is_boilerplate(
        "Build Status (https://github.com/x/y/actions) Coverage (https://codecov.io/gh/x/y)"
    )
    assert is_boilerplate("Home | Docs | Blog | Contact")
    assert is_boilerplate("Copyright (c) 2024 Example Ltd. All rights reserved.")
    assert is_boilerplate('Licensed under the Apache License, Version 2.0 (the "License");')
    assert not is_boilerplate("The loader beacons every 300 seconds to its command server over HTTPS.")
