"""The built-in offline provider: deterministic, useful, and honest about what it is."""

import json
import math
import os
import subprocess
import sys

from apps.providers import builtin
from apps.providers.builtin import BUILTIN_EMBEDDING_DIM

REPORT = """\
The phishing campaign against Example Corp began on 3 March with emails sent from billing@examp1e-pay.com.
The weather in the region was mild that week.
The phishing emails carried a link to https://examp1e-pay.com/login that harvested employee credentials.
Several employees entered their credentials on the phishing page before the security team blocked the domain.
The office cafeteria introduced a new menu on Tuesday.
The harvested credentials were later used from 203.0.113.7 to access the Example Corp VPN.
Lunch was served at noon.
The security team reset all affected credentials and reported the phishing domain to the registrar.
Analysts linked the campaign to CVE-2023-23397 exploitation seen in earlier phishing waves.
"""

KEY_SENTENCES = [
    "The phishing emails carried a link to https://examp1e-pay.com/login that harvested employee"
    " credentials.",
    "Several employees entered their credentials on the phishing page before the security team blocked"
    " the domain.",
    "The security team reset all affected credentials and reported the phishing domain to the registrar.",
]
FILLER = [
    "The weather in the region was mild that week.",
    "Lunch was served at noon.",
    "The office cafeteria introduced a new menu on Tuesday.",
]


def test_summary_keeps_the_key_sentences_in_original_order_and_drops_filler():
    summary = builtin.summarise(REPORT, max_sentences=4)
    assert len(summary) == 4
    for sentence in KEY_SENTENCES:
        assert sentence in summary
    for sentence in FILLER:
        assert sentence not in summary
    positions = [REPORT.index(s) for s in summary]
    assert positions == sorted(positions)


def test_generate_is_labelled_and_lists_keywords_and_entities():
    text = builtin.generate(
        [
            {"role": "system", "content": "Summarise in at most 3 sentences."},
            {"role": "user", "content": REPORT},
        ]
    )
    assert text.startswith(builtin.LABEL)
    summary_line = text.split("Summary:\n", 1)[1].split("\n", 1)[0]
    assert sum(1 for s in builtin.split_sentences(summary_line)) == 3
    assert "Keywords: phishing" in text
    for fragment in (
        "url https://examp1e-pay.com/login",
        "email billing@examp1e-pay.com",
        "ip 203.0.113.7",
        "cve CVE-2023-23397",
        "domain examp1e-pay.com",
    ):
        assert fragment in text


def test_generate_with_a_json_schema_fills_known_fields():
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "keywords": {"type": "array"},
            "risk": {"type": "integer"},
        },
    }
    data = json.loads(builtin.generate([{"role": "user", "content": REPORT}], json_schema=schema))
    assert set(data) == {"summary", "keywords", "risk"}
    assert "phishing" in data["keywords"]
    assert data["risk"] == 0


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_normalised_fixed_size_and_similar_for_similar_text():
    a, b, c = builtin.embed(
        [
            "Phishing emails harvested employee credentials",
            "Employees' credentials were harvested by a phishing email",
            "The cafeteria serves lunch at noon",
        ]
    )
    assert len(a) == BUILTIN_EMBEDDING_DIM
    assert math.isclose(math.sqrt(sum(v * v for v in a)), 1.0, rel_tol=1e-9)
    assert cosine(a, b) > 0.5 > cosine(a, c)
    assert builtin.embed([""])[0] == [0.0] * BUILTIN_EMBEDDING_DIM


def test_outputs_are_identical_in_another_process_with_another_hash_seed():
    code = (
        "import json; from apps.providers import builtin; "
        f"messages = [{{'role': 'user', 'content': {REPORT!r}}}]; "
        "print(json.dumps([builtin.generate(messages), builtin.embed(['abc def'])]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    text, vectors = json.loads(out.stdout)
    assert text == builtin.generate([{"role": "user", "content": REPORT}])
    assert vectors == builtin.embed(["abc def"])
