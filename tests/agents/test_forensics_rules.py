"""YARA rules (compiled once, versioned) and known-good / known-bad hash sets, as an admin
manages them and as the forensics agent applies them."""

import hashlib
from http import HTTPStatus

import pytest

from apps.agents.forensics import ForensicsAgent
from apps.agents.forensics.rules import hash_set_import, yara_rule_save, yara_ruleset
from apps.agents.forensics_models import HashSet, HashSetKind, YaraRule
from apps.core.exceptions import ValidationFailed
from apps.core.vocabulary import TaskType
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

# transaction=True: uploads are staged and moved into storage on commit (artefact_create).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

MARKER_RULE = """
rule planted_js_marker {
    meta:
        description = "The planted JavaScript marker"
    strings:
        $js = "planted-js-marker"
        $alert = "app.alert" ascii
    condition:
        all of them
}
"""


def scan(organization, files, target="", **params):
    return run_on_files(
        ForensicsAgent, organization, files, task_type=TaskType.FILE_ANALYSIS, target=target, **params
    )


def test_rule_that_does_not_compile_is_refused():
    with pytest.raises(ValidationFailed, match="does not compile"):
        yara_rule_save(name="broken", source="rule x { condition: nope }", severity="malicious")
    assert not YaraRule.objects.exists()


def test_rule_versions_and_revisions_and_single_compilation():
    rule = yara_rule_save(name="markers", source=MARKER_RULE, severity="suspicious")
    first = yara_ruleset()
    assert rule.version == 1 and rule.revisions.count() == 1
    assert yara_ruleset() is first  # compiled once, reused while nothing changed

    rule = yara_rule_save(rule=rule, name="markers", source=MARKER_RULE, severity="malicious")
    assert rule.version == 1  # same source: no new version
    rule = yara_rule_save(
        rule=rule,
        name="markers",
        source=MARKER_RULE.replace("all of them", "any of them"),
        severity="malicious",
    )
    assert rule.version == 2
    assert list(rule.revisions.values_list("version", flat=True)) == [2, 1]
    second = yara_ruleset()
    assert second is not first and second.version != first.version


def test_yara_match_with_strings_makes_the_verdict(organization):
    yara_rule_save(name="markers", source=MARKER_RULE, severity="malicious")
    pdf = ff.pdf_with_javascript(launch=False)
    run = scan(organization, {"invoice.pdf": pdf})

    match = run.data["files"][0]["yara"]["matches"][0]
    assert match["rule"] == "planted_js_marker" and match["namespace"] == "markers"
    assert match["rule_version"] == 1 and match["severity"] == "malicious"
    js = next(s for s in match["strings"] if s["identifier"] == "$js")
    assert js["matches"][0]["data"] == "planted-js-marker"
    assert js["matches"][0]["offset"] == pdf.index(b"planted-js-marker")
    assert run.data["verdict"] == "malicious"
    assert run.data["yara_ruleset_version"] == yara_ruleset().version


def test_rule_meta_severity_and_externals(organization):
    yara_rule_save(
        name="names",
        severity="info",
        source="""
        rule exe_named_as_picture { meta: severity = "suspicious"
          condition: uint16(0) == 0x5A4D and extension == "png" }""",
    )
    run = scan(organization, {"cat.png": ff.small_pe(imports=("GetTickCount",)), "cat2.exe": ff.small_pe()})
    hits = {n["name"]: [m["rule"] for m in n["yara"]["matches"]] for n in run.data["files"]}
    assert hits == {"cat.png": ["exe_named_as_picture"], "cat2.exe": []}


def test_disabled_rules_do_not_run(organization):
    rule = yara_rule_save(name="markers", source=MARKER_RULE, severity="malicious", enabled=False)
    run = scan(organization, {"invoice.pdf": ff.pdf_with_javascript(launch=False)})
    assert run.data["files"][0]["yara"]["matches"] == []
    assert rule.enabled is False


def test_known_bad_hash_is_malicious_inside_an_archive(organization):
    pe = ff.small_pe(imports=("GetTickCount",))
    bad = HashSet.objects.create(name="feed", kind=HashSetKind.KNOWN_BAD)
    counts = hash_set_import(
        hash_set=bad,
        text=f"# threat feed\n{hashlib.sha256(pe).hexdigest().upper()},TrickBot\n"
        "not-a-hash\n" + hashlib.md5(pe).hexdigest(),
    )
    assert counts == {"added": 2, "duplicate": 0, "invalid": 1}
    run = scan(organization, {"update.zip": ff.zip_of({"setup.exe": pe})})

    assert run.data["verdict"] == "malicious"
    known = [f for f in run.data["findings"] if f["rule"] == "known_bad_hash"]
    assert {f["file"] for f in known} == {"update.zip/setup.exe"}
    assert any("TrickBot" in f["title"] for f in known)


def test_known_good_hash_is_clean(organization):
    pe = ff.small_pe()  # injection APIs would make it suspicious
    good = HashSet.objects.create(name="vendor", kind=HashSetKind.KNOWN_GOOD)
    hash_set_import(hash_set=good, text=hashlib.sha1(pe).hexdigest())
    run = scan(organization, {"tool.exe": pe})
    assert run.data["verdict"] == "clean"
    assert run.data["files"][0]["verdict_reasons"][0] == "on a known-good hash list"


def test_hash_sets_of_another_organization_do_not_apply(organization, user_factory):
    from apps.users.services import organization_get_or_create

    other = organization_get_or_create(name="Other org")
    pe = ff.small_pe(imports=("GetTickCount",))
    bad = HashSet.objects.create(name="theirs", kind=HashSetKind.KNOWN_BAD, organization=other)
    hash_set_import(hash_set=bad, text=hashlib.sha256(pe).hexdigest())
    assert scan(organization, {"a.exe": pe}).data["verdict"] == "unknown"
    assert scan(other, {"a.exe": pe}).data["verdict"] == "malicious"


def test_fuzzy_similarity_to_known_bad(organization):
    import random

    base = random.Random(4).randbytes(200_000)
    variant = base[:150_000] + b"patched" + base[150_007:]
    from apps.agents.forensics.content import hashes

    bad = HashSet.objects.create(name="fuzzy", kind=HashSetKind.KNOWN_BAD)
    hash_set_import(hash_set=bad, text=hashes(base)["ssdeep"] + ",family X")
    run = scan(organization, {"variant.bin": variant})
    similar = [f for f in run.data["findings"] if f["rule"] == "fuzzy_hash_similar"]
    assert similar and similar[0]["severity"] == "high"
    assert run.data["verdict"] == "suspicious"


def test_bare_hash_target(organization):
    pe = ff.small_pe()
    digest = hashlib.sha256(pe).hexdigest()
    first = scan(organization, {"a.exe": pe})  # uploaded once before
    assert first.data["verdict"] == "suspicious"

    unknown = scan(organization, {}, target=digest)
    assert unknown.data["verdict"] == "unknown"
    assert unknown.data["previously_uploaded"][0]["task_id"] == str(first.task.id)

    bad = HashSet.objects.create(name="feed", kind=HashSetKind.KNOWN_BAD)
    hash_set_import(hash_set=bad, text=f"{digest} Emotet")
    known = scan(organization, {}, target=digest.upper())
    assert known.data["verdict"] == "malicious"
    assert known.data["hash_sets"][0]["note"] == "Emotet"
    assert known.result.entities[0].kind == "hash"


def test_admin_manages_rules_and_hash_sets(client, db):
    from apps.users.models import User
    from tests.users.factories import enable_totp

    admin_user = User.objects.create_superuser(email="root@example.org", password="x")
    enable_totp(admin_user)  # staff need a second factor
    client.force_login(admin_user)
    response = client.post(
        "/admin/agents/yararule/add/",
        {
            "name": "bad",
            "description": "",
            "severity": "malicious",
            "enabled": "on",
            "source": "rule x { condition: nope }",
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == HTTPStatus.OK and b"does not compile" in response.content
    response = client.post(
        "/admin/agents/yararule/add/",
        {
            "name": "markers",
            "description": "",
            "severity": "malicious",
            "enabled": "on",
            "source": MARKER_RULE,
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    rule = YaraRule.objects.get(name="markers")
    assert rule.version == 1 and rule.updated_by == admin_user and rule.revisions.count() == 1

    response = client.post(
        "/admin/agents/hashset/add/",
        {
            "name": "feed",
            "kind": "known_bad",
            "description": "",
            "source": "",
            "enabled": "on",
            "import_hashes": "d41d8cd98f00b204e9800998ecf8427e,empty file\nnope",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert list(HashSet.objects.get(name="feed").entries.values_list("algorithm", "note")) == [
        ("md5", "empty file")
    ]
