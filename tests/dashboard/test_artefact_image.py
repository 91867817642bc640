"""Charts show inline on a task's page: a PNG artefact is served as image/png to members of its
organisation only, and any other file is refused here (it stays a download)."""

import struct
import zlib
from http import HTTPStatus

import pytest

from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db(transaction=True)


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def test_a_png_is_an_image_for_its_organisation_only(client, analyst, user_factory):
    task = make_task(analyst.organization, user=analyst, files={"chart.png": _png(), "page.html": "<b>x</b>"})
    chart = task.artefacts.get(original_name="chart.png")
    page = task.artefacts.get(original_name="page.html")

    client.force_login(analyst)
    response = client.get(f"/artefacts/{chart.pk}/image")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response) == _png()
    assert client.get(f"/artefacts/{page.pk}/image").status_code == HTTPStatus.NOT_FOUND

    stranger = user_factory(org=organization_get_or_create(name="Elsewhere"))
    client.force_login(stranger)
    assert client.get(f"/artefacts/{chart.pk}/image").status_code == HTTPStatus.NOT_FOUND
