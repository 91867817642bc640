"""Verdict calibration on a labelled corpus (tests/agents/verdict_corpus.py): no known-benign file
comes out suspicious or malicious, every known-bad one does, each with a named reason."""

import pytest

from tests.agents.verdict_corpus import BAD, BENIGN, corpus, judge

SAMPLES = corpus()


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.label == BENIGN], ids=lambda s: s.name)
def test_benign_files_are_not_flagged(sample):
    verdict, reasons = judge(sample)
    assert verdict not in ("suspicious", "malicious"), reasons


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.label == BAD], ids=lambda s: s.name)
def test_bad_files_are_flagged_with_a_reason(sample):
    verdict, reasons = judge(sample)
    assert verdict in ("suspicious", "malicious") and reasons, (verdict, reasons)


def test_the_corpus_has_both_kinds():
    labels = [s.label for s in SAMPLES]
    assert labels.count(BENIGN) >= 10 and labels.count(BAD) >= 6
