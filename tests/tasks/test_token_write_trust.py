"""A write made with an API token is audited with the request's trust score. The token
authentication reads the score's Redis keys (failed sign-ins, whether the IP is known) in its own
round trip for writes (apps.users.auth); the score must be what trust_evaluate reads itself."""

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.users.services import token_create
from apps.users.trust import trust_note_failed_auth, trust_remember_client
from tests.tasks.conftest import submit

pytestmark = pytest.mark.django_db


def _factors(task_id: str) -> dict:
    return AuditEvent.objects.get(event_type="task.create", entity_id=task_id).trust_factors


def test_token_writes_are_scored_with_the_known_ip_and_failed_sign_ins(analyst):
    trust_remember_client(user=analyst, ip="127.0.0.1", device="")
    trust_note_failed_auth(user_id=analyst.pk)
    trust_note_failed_auth(user_id=analyst.pk)
    secret = token_create(user=analyst, name="ci", scopes=["tasks:read", "tasks:write"]).secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    # The first request authenticates from the database, the next ones from the process's token
    # cache (whose Redis round trip carries the trust reads).
    ids = [submit(api, agents=["test_echo"])["id"] for _ in range(3)]
    for task_id in ids:
        factors = _factors(task_id)
        assert (factors["auth"], factors["ip"], factors["failed_auth"]) == ("token", "known", 2)
        assert factors["rate_per_minute"] >= 1


def test_a_token_write_from_a_new_ip_is_scored_as_new(analyst):
    secret = token_create(user=analyst, name="ci", scopes=["tasks:read", "tasks:write"]).secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="198.51.100.7")
    ids = [submit(api, agents=["test_echo"])["id"] for _ in range(2)]
    for task_id in ids:
        factors = _factors(task_id)
        assert (factors["ip"], factors["failed_auth"]) == ("new", 0)
        assert factors["penalties"]["ip"] > 0
