"""Archives: member-by-member listing with hashes, nesting limits and zip bombs stopped."""

import gzip
import hashlib

import pytest

from apps.agents.forensics import ForensicsAgent
from apps.core.vocabulary import TaskType
from tests.agents import fixtures_files as ff
from tests.agents.fixtures_runner import media_root, run_on_files  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def scan(organization, files, **params):
    return run_on_files(ForensicsAgent, organization, files, task_type=TaskType.FILE_ANALYSIS, **params)


def member(node, name):
    return next(m for m in node["archive"]["members"] if m["name"] == name)


def rules(run):
    return {f["rule"] for f in run.data["findings"]}


def test_nested_zips_are_listed_member_by_member(organization):
    run = scan(organization, {"bundle.zip": ff.nested_zips(3)})

    top = run.data["files"][0]
    level1 = member(top, "level1.zip")
    level2 = member(level1["analysis"], "level2.zip")
    secret = member(level2["analysis"], "secret.txt")
    assert secret["path"] == "bundle.zip/level1.zip/level2.zip/secret.txt"
    assert secret["analysis"]["hashes"]["sha256"] == hashlib.sha256(ff.NESTED_SECRET).hexdigest()
    assert secret["analysis"]["depth"] == 3
    assert secret["size"] == len(ff.NESTED_SECRET)
    assert ("url", "http://deep.example.org/inner") in {
        (i["kind"], i["value"]) for i in secret["analysis"]["indicators"]
    }
    assert any(
        e["timestamp"] == "2022-06-07T08:09:10Z" and e["file"] == secret["path"] for e in run.data["timeline"]
    )
    assert run.data["verdict"] == "clean"
    contains = {
        (r.source.attributes["name"], r.target.attributes["name"])
        for r in run.result.relations
        if r.type == "contains"
    }
    assert ("level2.zip", "secret.txt") in {(a.rsplit("/", 1)[-1], b.rsplit("/", 1)[-1]) for a, b in contains}


def test_nesting_beyond_the_depth_limit_is_not_expanded(organization, settings):
    settings.AMAS_ARCHIVE_MAX_DEPTH = 2
    run = scan(organization, {"bundle.zip": ff.nested_zips(3)})
    level2 = member(member(run.data["files"][0], "level1.zip")["analysis"], "level2.zip")["analysis"]
    assert level2["archive"]["depth_limit"] is True
    assert level2["archive"]["members"] == []
    assert "archive_depth_limit" in rules(run)


def test_zip_bomb_is_stopped_under_its_limit(organization, settings):
    bomb = ff.zip_bomb()
    run = scan(organization, {"bomb.zip": bomb})

    top = run.data["files"][0]
    zeros = member(top, "zeros.bin")
    assert zeros["size"] == ff.ZIP_BOMB_MEMBER_BYTES  # what the header declares
    assert "over the limit" in zeros["skipped"]
    assert "analysis" not in zeros
    assert top["archive"]["bomb"] is True
    assert top["expansion"]["bytes_expanded"] == 0  # refused from the header, nothing expanded
    assert "archive_bomb" in rules(run)
    assert run.data["verdict"] == "suspicious"


def test_zip_bomb_with_lying_headers_expands_no_further_than_declared(organization):
    """The central directory claims 1 KiB for a member that inflates to 64 MiB: reading stops at
    the declared size and the CRC mismatch is reported, nothing more is expanded."""
    run = scan(organization, {"bomb.zip": ff.lying_zip_bomb()})

    top = run.data["files"][0]
    zeros = member(top, "zeros.bin")
    assert "CRC" in zeros["error"]
    assert top["expansion"]["bytes_expanded"] <= 256 * 1024
    assert "archive_member_unreadable" in rules(run)


def test_gzip_bomb_is_stopped(organization, settings):
    data = gzip.compress(b"\x00" * ff.ZIP_BOMB_MEMBER_BYTES, compresslevel=9)
    run = scan(organization, {"logs.gz": data})
    top = run.data["files"][0]
    assert top["archive"]["bomb"] is True
    assert top["expansion"]["bytes_expanded"] < ff.ZIP_BOMB_MEMBER_BYTES // 4


def test_expansion_budget_is_shared_across_members(organization, settings):
    settings.AMAS_ARCHIVE_MAX_EXPANDED_BYTES = 300_000
    members = {f"part{i}.txt": (f"line {i}\n" * 20_000).encode() for i in range(5)}  # ~140 KB each
    run = scan(organization, {"parts.zip": ff.zip_of(members)})
    top = run.data["files"][0]
    expanded = [m for m in top["archive"]["members"] if "analysis" in m]
    assert 1 <= len(expanded) < 5
    assert top["expansion"]["bytes_expanded"] <= 300_000 + 256 * 1024


def test_password_protected_zip_is_noted(organization):
    run = scan(organization, {"invoice.zip": ff.password_protected_zip()})
    top = run.data["files"][0]
    hidden = member(top, "hidden.exe")
    assert hidden["encrypted"] is True and hidden["skipped"] == "password-protected"
    assert top["archive"]["encrypted_members"] == 1
    assert "archive_encrypted" in rules(run)
    assert run.data["verdict"] == "suspicious"


def test_executable_inside_archive_and_path_traversal(organization):
    data = ff.zip_of({"../../evil/run.exe": ff.small_pe(imports=("GetTickCount",)), "readme.txt": b"hello"})
    run = scan(organization, {"update.zip": data})
    assert {"archive_path_traversal", "executable_content"} <= rules(run)
    assert run.data["files"][0]["archive"]["path_traversal"] == ["../../evil/run.exe"]
    assert run.data["verdict"] == "suspicious"


def test_tar_gz_members(organization):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        content = b"ssh key: see http://files.example.org/key\n"
        info = tarfile.TarInfo("home/notes.txt")
        info.size, info.mtime = len(content), 1_600_000_000
        tar.addfile(info, io.BytesIO(content))
    run = scan(organization, {"backup.tar.gz": gzip.compress(buffer.getvalue())})
    top = run.data["files"][0]
    tar_node = member(top, "backup.tar")["analysis"]
    notes = member(tar_node, "home/notes.txt")
    assert notes["modified"] == "2020-09-13T12:26:40Z"
    assert notes["analysis"]["hashes"]["sha256"] == hashlib.sha256(content).hexdigest()


def test_a_long_expansion_reports_progress(organization):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(250):
            archive.writestr(f"notes/{number:03d}.txt", f"note {number}\n")
    run = scan(organization, {"notes.zip": buffer.getvalue()})
    expanding = [(pct, message) for pct, message in run.progress if message.startswith("Expanding notes.zip")]
    assert [message.split(",")[0] for _, message in expanding] == [
        "Expanding notes.zip: 100 members",
        "Expanding notes.zip: 200 members",
    ]
    assert expanding[0][0] <= expanding[1][0] <= 85  # inside this file's slice of the bar
