"""`GET /api/v1/artefacts/{id}/download` with an API token: the same organisation check as the web
download, the bytes streamed on local storage and a short-lived presigned redirect on S3 (moto's
server), never the sign-in page."""

import hashlib
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from apps.knowledge.models import Artefact
from apps.users.services import organization_get_or_create, token_create
from tests.tasks.factories import make_task

# transaction=True: an artefact's file reaches storage when its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
BODY = b"MZ\x90\x00 sample " * 500


@pytest.fixture(params=["local", "s3"])
def storage_kind(request, settings, tmp_path):
    if request.param == "local":
        options = {"location": str(tmp_path)}
        settings.STORAGES = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": options},
            "staticfiles": STATIC,
        }
    else:
        server = request.getfixturevalue("s3_server")
        options = server.storage_options(server.create_bucket())
        settings.STORAGES = {
            "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
            "staticfiles": STATIC,
        }
    return request.param


def bearer(user, scopes=("tasks:read",)) -> Client:
    secret = token_create(user=user, name="t", scopes=list(scopes)).secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_token_holder_downloads_the_bytes(storage_kind, analyst):
    task = make_task(analyst.organization, files={"sample.exe": BODY}, user=analyst)
    api = bearer(analyst)

    listed = api.get(f"/api/v1/tasks/{task.pk}/artefacts")
    assert listed.status_code == HTTPStatus.OK
    [row] = listed.json()
    assert (row["name"], row["size"]) == ("sample.exe", len(BODY))
    assert row["sha256"] == hashlib.sha256(BODY).hexdigest()

    response = api.get(row["download_url"])

    if storage_kind == "s3":
        assert response.status_code == HTTPStatus.FOUND
        location = response["Location"]
        assert parse_qs(urlsplit(location).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        fetched = httpx.get(location)  # no credentials of ours: the URL itself is the grant
        assert fetched.status_code == HTTPStatus.OK and fetched.content == BODY
        assert fetched.headers["content-disposition"].startswith("attachment")
    else:
        assert response.status_code == HTTPStatus.OK
        assert b"".join(response.streaming_content) == BODY
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == "private, no-store"


def test_other_organisations_anonymous_and_unscoped_tokens_get_nothing(storage_kind, analyst, user_factory):
    task = make_task(analyst.organization, files={"notes.txt": b"secret notes"}, user=analyst)
    url = f"/api/v1/artefacts/{Artefact.objects.get(task=task).pk}/download"
    outsider = user_factory(org=organization_get_or_create(name="Elsewhere Ltd"))

    assert Client().get(url).status_code == HTTPStatus.UNAUTHORIZED  # not a redirect to sign in
    other = bearer(outsider).get(url)
    assert other.status_code == HTTPStatus.NOT_FOUND and "Location" not in other
    assert bearer(analyst, scopes=("agents:read",)).get(url).status_code == HTTPStatus.FORBIDDEN
