"""Every REST operation fuzzed by schemathesis against a live daphne (the real ASGI stack on the
session's Postgres and Redis), as an analyst and as a viewer: no answer may be a 5xx, and every
answer must be one the OpenAPI document declares, with the declared content type and schema.

Bounded for `make test`: AMAS_FUZZ_EXAMPLES examples per operation (default 10) in positive and
negative mode, derandomised so a run is repeatable; set AMAS_FUZZ_EXAMPLES higher (and
AMAS_FUZZ_RANDOM=1) to search harder locally."""

import os
import subprocess
import sys
import time
from http import HTTPStatus

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from amas.api import api
from amas.stack import free_port
from apps.users.models import Role
from apps.users.permissions import user_scopes
from apps.users.services import token_create
from tests.ops.conftest import ROOT, stop, subprocess_env

EXAMPLES = int(os.environ.get("AMAS_FUZZ_EXAMPLES", "10"))
RANDOM = os.environ.get("AMAS_FUZZ_RANDOM") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Transactional: the server process must see the rows (tokens) this process makes.
pytestmark = pytest.mark.django_db(transaction=True)

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())

WEB = """
import django
django.setup()
from daphne.cli import CommandLineInterface
CommandLineInterface().run(["-b", "127.0.0.1", "-p", "%d", "amas.asgi:application"])
"""


@pytest.fixture(scope="module")
def server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        # Rate limits answer 429 (declared), but a fuzz run would see little else.
        env = subprocess_env(AMAS_API_RATE_LIMIT="100000/m", MEDIA_ROOT=str(tmp_path_factory.mktemp("media")))
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
def bearer_headers(user_factory):
    """An analyst's and a viewer's token with every scope their role allows (made per operation:
    the flush after each transactional test takes them away)."""
    analyst = user_factory(role=Role.ANALYST)
    viewer = user_factory(role=Role.VIEWER, org=analyst.organization)
    secrets = [
        token_create(user=u, name="fuzz", scopes=sorted(user_scopes(u))).secret for u in (analyst, viewer)
    ]
    return [{"Authorization": f"Bearer {secret}"} for secret in secrets]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time; failures print curl
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_within_its_contract(case, server_url, bearer_headers):
    for headers in bearer_headers:
        case.call_and_validate(base_url=server_url, headers=headers, checks=CHECKS, timeout=30)
