"""Uploads through the REST API and the CLI against a live daphne, as documented: files stream up
to AMAS_MAX_FILE_BYTES each and AMAS_MAX_TOTAL_BYTES in all while a JSON body stays bounded by
AMAS_MAX_BODY_BYTES; a 413 names the limit it hit; what went up comes back byte for byte through
`GET /api/v1/artefacts/{id}/download` and `amas download`.

The server runs with AMAS_MAX_FILE_BYTES=42 MB and AMAS_MAX_TOTAL_BYTES=44 MB so a 40 MiB file
passes while the limits are reachable without uploading hundreds of megabytes."""

import hashlib
import json
import os
import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from amas.stack import free_port
from apps.users.services import token_create
from tests.ops.conftest import ROOT, stop, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
MAX_FILE = 42_000_000
MAX_TOTAL = 44_000_000

WEB = """
import django
django.setup()
from daphne.cli import CommandLineInterface
CommandLineInterface().run(["-b", "127.0.0.1", "-p", "%d", "amas.asgi:application"])
"""


@pytest.fixture(scope="module")
def server_url(django_db_blocker, tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock():
        env = subprocess_env(
            AMAS_MAX_FILE_BYTES=str(MAX_FILE), AMAS_MAX_TOTAL_BYTES=str(MAX_TOTAL), MEDIA_ROOT=str(media)
        )
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", WEB % port], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health").status_code == HTTPStatus.OK:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "daphne did not start"
        time.sleep(0.2)
    yield url
    stop(process)


@pytest.fixture
def token(analyst):
    return token_create(user=analyst, name="uploads", scopes=["tasks:read", "tasks:write"]).secret


@pytest.fixture
def api(server_url, token):
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        yield http


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; returns their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(left, MIB))
            digest.update(chunk)
            handle.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


PAYLOAD = {"title": "capture", "task_type": "file_analysis", "target": "capture.bin"}


def submit(api, *paths: Path) -> httpx.Response:
    handles = [("files", (p.name, p.open("rb"), "application/octet-stream")) for p in paths]
    try:
        return api.post("/api/v1/tasks", data={"payload": json.dumps(PAYLOAD)}, files=handles)
    finally:
        for _, (_, handle, _) in handles:
            handle.close()


def downloaded_sha256(api, url: str) -> str:
    digest = hashlib.sha256()
    with api.stream("GET", url) as response:
        assert response.status_code == HTTPStatus.OK
        assert response.headers["content-type"] == "application/octet-stream"
        for chunk in response.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("size", [5 * MIB, 40 * MIB], ids=["5MiB", "40MiB"])
def test_api_upload_is_stored_and_downloads_byte_for_byte(api, tmp_path, size):
    path = tmp_path / "capture.bin"
    sha = random_file(path, size)

    response = submit(api, path)

    assert response.status_code == HTTPStatus.CREATED, response.text
    task_id = response.json()["id"]
    listed = api.get(f"/api/v1/tasks/{task_id}/artefacts")
    assert listed.status_code == HTTPStatus.OK
    [artefact] = listed.json()
    assert (artefact["name"], artefact["size"], artefact["sha256"]) == ("capture.bin", size, sha)
    assert downloaded_sha256(api, artefact["download_url"]) == sha


def test_a_file_over_the_file_limit_is_refused_naming_it(api, tmp_path):
    path = tmp_path / "big.bin"
    random_file(path, MAX_FILE + 1)
    response = submit(api, path)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["limit"] == "file_bytes"
    assert str(MAX_FILE) in response.json()["detail"]


def test_files_over_the_total_limit_are_refused_naming_it(api, tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    random_file(first, 30 * MIB)
    random_file(second, 15 * MIB)
    response = submit(api, first, second)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["limit"] == "total_bytes"


def test_a_zero_byte_file_is_refused(api, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    response = submit(api, empty)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "empty.bin" in response.json()["detail"] and "empty" in response.json()["detail"]


def test_the_json_body_stays_bounded(api):
    big = {**PAYLOAD, "parameters": {"blob": "x" * (2 * MIB)}}
    response = api.post("/api/v1/tasks", json=big)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["limit"] == "body_bytes"
    assert "AMAS_MAX_BODY_BYTES" in response.json()["detail"]


def test_download_needs_the_token_and_the_organisation(api, server_url, tmp_path, user_factory):
    from apps.users.services import organization_get_or_create

    path = tmp_path / "notes.txt"
    path.write_bytes(b"field notes")
    task_id = submit(api, path).json()["id"]
    url = api.get(f"/api/v1/tasks/{task_id}/artefacts").json()[0]["download_url"]

    assert httpx.get(server_url + url).status_code == HTTPStatus.UNAUTHORIZED
    outsider = user_factory(org=organization_get_or_create(name="Elsewhere Ltd"))
    secret = token_create(user=outsider, name="x", scopes=["tasks:read"]).secret
    other = httpx.get(server_url + url, headers={"Authorization": f"Bearer {secret}"})
    assert other.status_code == HTTPStatus.NOT_FOUND


@pytest.fixture
def amas(tmp_path, server_url, token):
    env = {
        **os.environ,
        "AMAS_URL": server_url,
        "AMAS_TOKEN": token,
        "AMAS_CONFIG": str(tmp_path / "none.json"),
        "PYTHONPATH": str(ROOT),
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "amas.cli", *args],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    return run


@pytest.mark.parametrize("size", [5 * MIB, 40 * MIB], ids=["5MiB", "40MiB"])
def test_cli_submit_file_and_download_round_trip(amas, tmp_path, size):
    path = tmp_path / "capture.bin"
    sha = random_file(path, size)

    submitted = amas("submit", "file_analysis", "capture.bin", "--file", str(path), "--json")
    assert submitted.returncode == 0, submitted.stderr
    task_id = json.loads(submitted.stdout)["id"]
    listed = amas("artefacts", task_id, "--json")
    assert listed.returncode == 0, listed.stderr
    [artefact] = json.loads(listed.stdout)
    assert artefact["size"] == size

    out = tmp_path / "back.bin"
    fetched = amas("download", artefact["id"], "--output", str(out), "--json")

    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout) == {"path": str(out), "bytes": size}
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha
    again = amas("download", artefact["id"], "--output", str(out))
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites silently


def test_cli_download_of_an_unknown_artefact_exits_4(amas):
    done = amas("download", "00000000-0000-0000-0000-000000000000")
    assert done.returncode == 4
