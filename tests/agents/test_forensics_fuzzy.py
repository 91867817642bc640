"""The compiled ssdeep (libfuzzy, when the host has it) and the pure-Python fallback agree on hashes."""

import ppdeep

from apps.agents.forensics.fuzzy import fuzzy_compare, fuzzy_hash
from tests.agents import fixtures_files as ff


def test_same_hashes_and_scores_as_ppdeep():
    samples = [ff.small_pe(), ff.pdf_with_javascript(), ff.report_text().encode() * 20, b"", b"x" * 5000]
    for data in samples:
        assert fuzzy_hash(data) == ppdeep.hash(data)
    a, b = fuzzy_hash(ff.report_text().encode() * 20), fuzzy_hash(ff.report_text().encode() * 19 + b"tail")
    # Same hashes; scores may differ by one point (ppdeep rounds differently from libfuzzy).
    assert abs(fuzzy_compare(a, b) - int(ppdeep.compare(a, b))) <= 1 and fuzzy_compare(a, b) > 90
