"""`amas` case-work commands against a live server (daphne and a Celery worker as subprocesses,
the CLI as a subprocess, as a user runs it): a playbook run with `submit --playbook`, the
investigation commands, STIX export and re-import, and the exit codes of refused input."""

import json

import pytest
import stix2

from apps.cases.playbooks import playbook_create
from apps.users.models import Role
from tests.ops import test_cli

pytestmark = pytest.mark.django_db(transaction=True)

# the live server (daphne + worker subprocesses) and the CLI runner of the CLI's own tests
live_server_url, token, amas = test_cli.live_server_url, test_cli.token, test_cli.amas


@pytest.fixture
def echo_playbook(user_factory):
    admin = user_factory(role=Role.ADMIN)
    return playbook_create(
        user=admin,
        name="echo",
        task_type="custom",
        agents=["test_echo"],
        parameters={"test_echo": {"words": 1}},
    )


def run_json(amas, *args):
    done = amas(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_a_playbook_runs_inside_an_investigation_and_travels_as_stix(
    amas, echo_playbook, user_factory, tmp_path
):
    colleague = user_factory(email="colleague@example.org")
    assert [p["name"] for p in run_json(amas, "playbooks", "list")] == ["echo"]
    assert "echo" in amas("playbooks", "list").stdout

    case = run_json(amas, "investigations", "create", "CLI case", "--tag", "cli", "--classification", "green")
    assert case["tags"] == ["cli"] and case["classification"] == "green"

    ran = run_json(
        amas, "submit", "--playbook", "echo", "example.org hello", "--investigation", case["id"], "--wait"
    )
    assert ran["task"]["status"] == "completed"
    assert ran["task"]["requested_agents"] == ["test_echo"]
    assert ran["task"]["parameters"] == {"test_echo": {"words": 1}}

    comment = run_json(
        amas, "investigations", "comment", case["id"], "@colleague@example.org the echo is done"
    )
    assert comment["mentions"] == [colleague.email]

    assert [i["id"] for i in run_json(amas, "investigations", "list", "--tag", "cli")] == [case["id"]]
    assert [i["id"] for i in run_json(amas, "investigations", "list", "-q", "echo is done")] == [case["id"]]
    assert run_json(amas, "investigations", "list", "--status", "closed") == []

    shown = run_json(amas, "investigations", "show", case["id"])
    assert [t["id"] for t in shown["tasks"]] == [ran["task"]["id"]]
    assert [c["body"] for c in shown["comments"]] == ["@colleague@example.org the echo is done"]
    assert ("domain", "example.org") in {(e["kind"], e["normalized"]) for e in shown["entities"]}
    table = amas("investigations", "show", case["id"])
    assert table.returncode == 0 and "CLI case" in table.stdout

    bundle_file = tmp_path / "case.json"
    exported = amas("investigations", "export", case["id"], "-o", str(bundle_file))
    assert exported.returncode == 0, exported.stderr
    bundle = stix2.parse(bundle_file.read_text(), allow_custom=True)
    assert "example.org" in {o.get("value") for o in bundle.objects}
    assert amas("investigations", "export", case["id"], "-o", str(bundle_file)).returncode == 2  # no --force
    misp = amas("investigations", "export", case["id"], "--format", "misp")
    assert misp.returncode == 0, misp.stderr
    assert ("domain", "example.org") in {
        (a["type"], a["value"]) for a in json.loads(misp.stdout)["Event"]["Attribute"]
    }

    second = run_json(amas, "investigations", "create", "Second case")
    imported = run_json(amas, "investigations", "import", second["id"], str(bundle_file))
    assert imported["imported"] >= 1
    assert ("domain", "example.org", "imported") in {
        (e["kind"], e["normalized"], e["provenance"]) for e in imported["entities"]
    }

    # a task belongs to one investigation: adding it to the second is refused (409 -> exit 2)
    moved = amas("investigations", "add-task", second["id"], ran["task"]["id"])
    assert moved.returncode == 2 and "already belongs" in moved.stderr


def test_refused_input_has_the_usual_exit_codes(amas, echo_playbook, tmp_path):
    case = run_json(amas, "investigations", "create", "Case")

    unknown = amas("submit", "--playbook", "nope", "example.org")
    assert unknown.returncode == 4 and "No playbook named 'nope'" in unknown.stderr
    both = amas("submit", "--playbook", "echo", "custom", "example.org")
    assert both.returncode == 2 and "only the target" in both.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"type": "bundle", "objects": [{"type": "domain-name", "spec_version": "2.1"}]})
    )
    refused = amas("investigations", "import", case["id"], str(bad))
    assert refused.returncode == 2 and "Invalid STIX bundle: objects[0]" in refused.stderr
    bad.write_text("{not json")
    assert amas("investigations", "import", case["id"], str(bad)).returncode == 2

    long = amas("investigations", "comment", case["id"], "x" * 10_001)
    assert long.returncode == 2 and "the limit is 10000" in long.stderr

    missing = amas("investigations", "show", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 4
    created = amas("investigations", "create", "x", "--classification", "purple")
    assert created.returncode == 2
