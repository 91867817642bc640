"""The audit page reads as before/after per field, and an admin edit (two chained rows: the
admin's log entry and the model's update) shows as one row."""

import re
from http import HTTPStatus

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.users.models import Role
from tests.users.factories import enable_totp, login

pytestmark = pytest.mark.django_db


def test_an_admin_edit_is_one_readable_row(user_factory, analyst):
    admin = user_factory(role=Role.ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    client = login(Client(), admin, secret=enable_totp(admin))
    response = client.post(
        f"/admin/users/user/{analyst.pk}/change/",
        {
            "email": analyst.email,
            "full_name": "",
            "organization": analyst.organization_id,
            "role": Role.VIEWER,
            "is_active": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    update = AuditEvent.objects.get(event_type="user.update", entity_id=str(analyst.pk))
    admin_row = AuditEvent.objects.get(event_type="admin.change", entity_id=str(analyst.pk))

    html = client.get("/audit/").content.decode()
    assert f'data-audit-seq="{update.seq}"' in html
    assert f'data-audit-seq="{admin_row.seq}"' not in html  # folded into the update's row
    row = html.split(f'data-audit-seq="{update.seq}"')[1].split("</tr>\n    \n")[0]
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
    assert "Role analyst viewer" in cells
    assert "In the admin" in cells and "Role" in cells
    changes = re.findall(r"<td data-audit-changes>(.*?)</td>\s*</tr>", html, re.S)
    assert changes and not any("{'" in c or "&#x27;:" in c for c in changes)  # no Python dicts
