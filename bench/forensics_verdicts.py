"""Forensics verdicts on the labelled corpus (tests/agents/verdict_corpus.py): the confusion
matrix of today's rules next to the legacy rules in the same run (an executable inside an archive
counted medium, gaps did not stop 'clean'), and where scan time goes (the fuzzy hash's share).

    venv/bin/python bench/forensics_verdicts.py
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amas.settings.test")

import django  # noqa: E402

django.setup()

import ppdeep  # noqa: E402

from apps.agents.forensics.fuzzy import ENGINE, fuzzy_hash  # noqa: E402
from tests.agents.verdict_corpus import BAD, BENIGN, corpus, judge  # noqa: E402

FLAGGED = ("suspicious", "malicious")
VERDICTS = ("malicious", "suspicious", "incomplete", "unknown", "clean")


def matrix(samples: list, *, legacy: bool) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    wrong = []
    for sample in samples:
        verdict, reasons = judge(sample, legacy=legacy)
        counts[(sample.label, verdict)] += 1
        if (sample.label == BENIGN) == (verdict in FLAGGED):
            wrong.append(f"  {sample.label:6} {sample.name}: {verdict} ({'; '.join(reasons[:2])[:140]})")
    return counts, wrong


def main() -> None:
    samples = corpus()
    print(
        f"{len(samples)} samples: {sum(s.label == BENIGN for s in samples)} benign, "
        f"{sum(s.label == BAD for s in samples)} bad\n"
    )
    for legacy in (True, False):
        counts, wrong = matrix(samples, legacy=legacy)
        print("legacy rules (baseline)" if legacy else "current rules")
        print(f"  {'label':8}" + "".join(f"{v:>12}" for v in VERDICTS))
        for label in (BENIGN, BAD):
            print(f"  {label:8}" + "".join(f"{counts[(label, v)]:>12}" for v in VERDICTS))
        fp = sum(counts[(BENIGN, v)] for v in FLAGGED)
        tp = sum(counts[(BAD, v)] for v in FLAGGED)
        print(f"  false positives {fp}, true positives {tp}/{sum(s.label == BAD for s in samples)}")
        print("\n".join(wrong) + "\n" if wrong else "")
    started = time.perf_counter()
    for sample in samples:
        judge(sample)
    total = time.perf_counter() - started
    timings = {}
    for name, function in (("ppdeep (pure Python)", ppdeep.hash), (f"fuzzy_hash [{ENGINE}]", fuzzy_hash)):
        started = time.perf_counter()
        for sample in samples:
            function(sample.data)
        timings[name] = time.perf_counter() - started
    size = sum(len(s.data) for s in samples)
    print(f"whole-corpus scan {total:.2f} s for {size / 1e6:.1f} MB of top-level files (ssdeep by {ENGINE})")
    baseline = timings["ppdeep (pure Python)"]
    for name, seconds in timings.items():
        print(f"  {name:28} {seconds:7.3f} s on the top-level files  ({baseline / seconds:5.1f}x ppdeep)")
    same = all(fuzzy_hash(s.data) == ppdeep.hash(s.data) for s in samples)
    print(f"  identical hashes: {same}")


if __name__ == "__main__":
    main()
