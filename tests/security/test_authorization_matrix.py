"""The authorisation matrix: every REST route of amas.api.api and every websocket route of
amas.routing, requested as anonymous, a viewer, an analyst and an admin of organisation A, and an
admin of organisation B, against objects that belong to organisation A.

Each route needs a row in API_MATRIX / WS_MATRIX below; a route without one fails
test_every_route_has_a_row, naming it. Add the row in this file when you add a route: the
expected status per role, and how to build its path parameters, query and body from the World
(objects of organisation A). Besides the status, no response to organisation B may contain
organisation A's marker text (no IDOR, no leak through lists or search)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import Any

import pytest
from django.test import Client

from amas.api import api
from amas.routing import websocket_urlpatterns
from apps.users.models import Role
from apps.users.services import organization_get_or_create, user_create
from tests.commits import commit_callbacks
from tests.users.factories import PASSWORD, enable_totp, login

ROLES = ("anonymous", "viewer", "analyst", "admin", "other_org")
API_PREFIX = "/api/v1"
MARKER = "ORGA-MARKER-7f3c"  # in org A's object names; never in anything org B receives

OK, CREATED, NO_CONTENT = HTTPStatus.OK, HTTPStatus.CREATED, HTTPStatus.NO_CONTENT
UNAUTH, FORBIDDEN, NOT_FOUND = HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND
CONFLICT, INVALID = HTTPStatus.CONFLICT, HTTPStatus.UNPROCESSABLE_ENTITY


def expect(anonymous: int, viewer: int, analyst: int, admin: int, other_org: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, viewer, analyst, admin, other_org), strict=True))


# Common shapes.
ORG_READ = expect(UNAUTH, OK, OK, OK, NOT_FOUND)  # an org A object: others see 404, never 403
ANY_MEMBER = expect(UNAUTH, OK, OK, OK, OK)  # lists and global reads (filtered per org)
ORG_ADMIN_OBJECT = expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, NOT_FOUND)
ADMIN_ONLY = expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, OK)  # an admin of any org, on global objects


class World:
    """Organisation A with a member per role and some objects, and organisation B's admin."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.org = organization_get_or_create(name=f"Org A {tag}")
        self.other_org = organization_get_or_create(name=f"Org B {tag}")
        self.users = {
            role: user_create(
                email=f"{role}-{tag}@a.example", password=PASSWORD, organization=self.org, role=role
            )
            for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN)
        }
        self.users["other_org"] = user_create(
            email=f"admin-{tag}@b.example", password=PASSWORD, organization=self.other_org, role=Role.ADMIN
        )
        self.totp = {key: enable_totp(user) for key, user in self.users.items() if user.role == Role.ADMIN}

    def client(self, role: str) -> Client:
        if role == "anonymous":
            return Client()
        return login(Client(), self.users[role], secret=self.totp.get(role))

    @cached_property
    def task(self) -> Any:
        from apps.tasks.services import task_create

        return task_create(
            user=self.users[Role.ANALYST],
            title=f"{MARKER} task",
            task_type="investigation",
            target="example.org",
        )

    @cached_property
    def artefact(self) -> Any:
        from django.core.files.base import ContentFile

        from apps.knowledge.services import artefact_create

        with commit_callbacks():
            return artefact_create(
                task=self.task,
                file=ContentFile(b"evidence", name="evidence.txt"),
                uploaded_by=self.users[Role.ANALYST],
            )

    @cached_property
    def investigation(self) -> Any:
        from apps.cases.services import investigation_add_task, investigation_create

        investigation = investigation_create(
            user=self.users[Role.ANALYST], title=f"{MARKER} case", tags=["orga-case"]
        )
        investigation_add_task(investigation=investigation, task=self.task, by=self.users[Role.ANALYST])
        return investigation

    @cached_property
    def playbook(self) -> Any:
        from apps.cases.playbooks import playbook_create

        return playbook_create(
            user=self.users[Role.ADMIN],
            name="orga-playbook",
            description=f"{MARKER} playbook",
            task_type="investigation",
            agents=["osint"],
        )

    @cached_property
    def token(self) -> Any:
        from apps.users.services import token_create

        return token_create(
            user=self.users[Role.ANALYST], name=f"{MARKER} token", scopes=["tasks:read"]
        ).token

    @cached_property
    def endpoint(self) -> Any:
        from apps.webhooks.services import endpoint_create

        return endpoint_create(
            user=self.users[Role.ADMIN],
            name=f"{MARKER} hook",
            url="https://93.184.216.34/hook",
            event_types=["*"],
        )

    @cached_property
    def delivery(self) -> Any:
        from apps.webhooks.services import endpoint_ping

        return endpoint_ping(endpoint=self.endpoint, user=self.users[Role.ADMIN])

    @cached_property
    def event_sink(self) -> Any:
        from apps.eventsinks.services import sink_create

        return sink_create(
            user=self.users[Role.ADMIN],
            name=f"{MARKER} sink",
            url="amqp://amas:s3cret@broker.invalid:5672/",
            event_types=["task.*"],
        )

    @cached_property
    def sink_delivery(self) -> Any:
        from apps.eventsinks.services import sink_test_send

        return sink_test_send(sink=self.event_sink, user=self.users[Role.ADMIN])

    @cached_property
    def agent_config(self) -> Any:
        from apps.agents.models import AgentConfig

        return AgentConfig.objects.filter(agent_type="aggregator").first() or AgentConfig.objects.first()

    @cached_property
    def graph(self) -> tuple[str, str]:
        """Org A's task found marker.example resolving to an address: (domain, ip)."""
        from datetime import UTC, datetime

        from apps.agents.base import Entity, Relation
        from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store

        domain, ip = f"{MARKER.lower()}.example", "192.0.2.77"
        get_graph_store().upsert(
            GraphBatch(
                provenance=Provenance(self.org.pk, str(self.task.pk), str(uuid.uuid4()), "osint"),
                seen_at=datetime.now(UTC),
                relations=[Relation(Entity("domain", domain), "resolves_to", Entity("ip", ip))],
            )
        )
        return domain, ip

    @cached_property
    def invitation(self) -> Any:
        from apps.users.invitations import invitation_create

        return invitation_create(
            by=self.users[Role.ADMIN], email=f"{MARKER.lower()}@a.example", role=Role.ANALYST
        ).invitation

    @cached_property
    def provider(self) -> Any:
        from apps.providers.models import Provider

        return Provider.objects.get(kind="builtin")


@dataclass(frozen=True)
class Case:
    expect: dict[str, int]
    params: Callable[[World], dict[str, Any]] = lambda w: {}
    query: Callable[[World], dict[str, Any]] = lambda w: {}
    body: Callable[[World], Any] | None = None
    needs: tuple[str, ...] = ()  # World objects that must exist (e.g. for lists to show them)


def _task(w: World) -> dict:
    return {"task_id": w.task.id}


TASK_BODY = {"title": "t", "task_type": "investigation", "target": "example.org"}


def _case(w: World) -> dict:
    return {"investigation_id": w.investigation.id}


CASE_WRITE = expect(UNAUTH, FORBIDDEN, OK, OK, NOT_FOUND)
CASE_CREATE = expect(UNAUTH, FORBIDDEN, CREATED, CREATED, NOT_FOUND)
STIX_BUNDLE = {
    "type": "bundle",
    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {
            "type": "domain-name",
            "spec_version": "2.1",
            "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
            "value": "imported.example",
        }
    ],
}

API_MATRIX: dict[tuple[str, str], Case] = {
    # tasks
    ("POST", "/tasks"): Case(expect(UNAUTH, FORBIDDEN, CREATED, CREATED, CREATED), body=lambda w: TASK_BODY),
    ("GET", "/tasks"): Case(ANY_MEMBER, needs=("task",)),
    ("GET", "/tasks/{task_id}"): Case(ORG_READ, _task),
    ("GET", "/tasks/{task_id}/events"): Case(ORG_READ, _task),
    ("GET", "/tasks/{task_id}/results"): Case(ORG_READ, _task),
    ("GET", "/tasks/{task_id}/runs"): Case(ORG_READ, _task),
    ("GET", "/tasks/{task_id}/artefacts"): Case(ORG_READ, _task, needs=("artefact",)),
    ("GET", "/artefacts/{artefact_id}/download"): Case(ORG_READ, lambda w: {"artefact_id": w.artefact.id}),
    ("POST", "/tasks/{task_id}/cancel"): Case(expect(UNAUTH, FORBIDDEN, OK, OK, NOT_FOUND), _task),
    # A fresh task cannot be retried (it has not failed): 409 shows the check passed authorisation.
    ("POST", "/tasks/{task_id}/retry"): Case(expect(UNAUTH, FORBIDDEN, CONFLICT, CONFLICT, NOT_FOUND), _task),
    ("GET", "/stats/tasks"): Case(ANY_MEMBER),
    # identity
    ("GET", "/me"): Case(ANY_MEMBER),
    ("GET", "/tokens"): Case(ANY_MEMBER, query=lambda w: {"all": "true"}, needs=("token",)),
    ("POST", "/tokens"): Case(
        expect(UNAUTH, CREATED, CREATED, CREATED, CREATED),
        body=lambda w: {"name": "m", "scopes": ["tasks:read"]},
    ),
    # The analyst's own token: its owner and the org admin may revoke it; others do not see it.
    ("DELETE", "/tokens/{token_id}"): Case(
        expect(UNAUTH, NOT_FOUND, NO_CONTENT, NO_CONTENT, NOT_FOUND), lambda w: {"token_id": w.token.pk}
    ),
    # members and invitations (apps/users): every member reads the member list, admins manage
    ("GET", "/members"): Case(ANY_MEMBER),
    ("GET", "/members/{member_id}"): Case(ORG_READ, lambda w: {"member_id": w.users[Role.VIEWER].pk}),
    ("PATCH", "/members/{member_id}"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"member_id": w.users[Role.VIEWER].pk}, body=lambda w: {"role": "analyst"}
    ),
    ("POST", "/members/{member_id}/deactivate"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"member_id": w.users[Role.VIEWER].pk}
    ),
    ("POST", "/members/{member_id}/reactivate"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"member_id": w.users[Role.VIEWER].pk}
    ),
    ("GET", "/invitations"): Case(expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, OK), needs=("invitation",)),
    ("POST", "/invitations"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, CREATED, CREATED),
        body=lambda w: {"email": "invitee@example.org", "role": "viewer"},
    ),
    ("GET", "/invitations/{invitation_id}"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"invitation_id": w.invitation.pk}
    ),
    ("POST", "/invitations/{invitation_id}/resend"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"invitation_id": w.invitation.pk}
    ),
    ("DELETE", "/invitations/{invitation_id}"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, NO_CONTENT, NOT_FOUND),
        lambda w: {"invitation_id": w.invitation.pk},
    ),
    # agents and providers are installation-wide configuration
    ("GET", "/agents"): Case(ANY_MEMBER),
    ("GET", "/agents/{config_id}"): Case(ANY_MEMBER, lambda w: {"config_id": w.agent_config.pk}),
    ("POST", "/agents/{config_id}/health"): Case(ADMIN_ONLY, lambda w: {"config_id": w.agent_config.pk}),
    ("GET", "/providers"): Case(ANY_MEMBER),
    ("POST", "/providers/{provider_id}/health"): Case(ADMIN_ONLY, lambda w: {"provider_id": w.provider.pk}),
    # webhooks belong to an organisation and are managed by its admins
    ("GET", "/webhooks/endpoints"): Case(expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, OK), needs=("endpoint",)),
    ("POST", "/webhooks/endpoints"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, CREATED, CREATED),
        body=lambda w: {
            "name": "new hook",
            "url": "https://93.184.216.34/new",
            "event_types": ["task.completed"],
        },
    ),
    ("GET", "/webhooks/endpoints/{endpoint_id}"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"endpoint_id": w.endpoint.pk}
    ),
    ("PATCH", "/webhooks/endpoints/{endpoint_id}"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"endpoint_id": w.endpoint.pk}, body=lambda w: {"active": False}
    ),
    ("DELETE", "/webhooks/endpoints/{endpoint_id}"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, NO_CONTENT, NOT_FOUND), lambda w: {"endpoint_id": w.endpoint.pk}
    ),
    ("POST", "/webhooks/endpoints/{endpoint_id}/rotate-secret"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"endpoint_id": w.endpoint.pk}
    ),
    ("POST", "/webhooks/endpoints/{endpoint_id}/ping"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, 202, NOT_FOUND), lambda w: {"endpoint_id": w.endpoint.pk}
    ),
    ("GET", "/webhooks/deliveries"): Case(expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, OK), needs=("delivery",)),
    ("GET", "/webhooks/deliveries/{delivery_id}"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"delivery_id": w.delivery.pk}
    ),
    ("POST", "/webhooks/deliveries/{delivery_id}/replay"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, 202, NOT_FOUND), lambda w: {"delivery_id": w.delivery.pk}
    ),
    # event sinks (apps/eventsinks) likewise; their URLs are never answered with the password
    ("GET", "/event-sinks"): Case(expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, OK), needs=("event_sink",)),
    ("POST", "/event-sinks"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, CREATED, CREATED),
        body=lambda w: {
            "name": "new sink",
            "url": "kafka://broker.invalid:9092",
            "kind": "kafka",
            "exchange": "amas-events",
            "event_types": ["*"],
        },
    ),
    ("GET", "/event-sinks/{sink_id}"): Case(ORG_ADMIN_OBJECT, lambda w: {"sink_id": w.event_sink.pk}),
    ("PATCH", "/event-sinks/{sink_id}"): Case(
        ORG_ADMIN_OBJECT, lambda w: {"sink_id": w.event_sink.pk}, body=lambda w: {"active": False}
    ),
    ("DELETE", "/event-sinks/{sink_id}"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, NO_CONTENT, NOT_FOUND), lambda w: {"sink_id": w.event_sink.pk}
    ),
    ("POST", "/event-sinks/{sink_id}/test"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, 202, NOT_FOUND), lambda w: {"sink_id": w.event_sink.pk}
    ),
    ("GET", "/event-sinks/deliveries"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, OK), needs=("sink_delivery",)
    ),
    # search and the knowledge graph: filtered to the user's organisation
    ("GET", "/search"): Case(ANY_MEMBER, query=lambda w: {"q": "zebraquokka"}, needs=("task",)),
    ("GET", "/tasks/{task_id}/similar"): Case(ORG_READ, _task),
    ("GET", "/tasks/{task_id}/entities"): Case(ORG_READ, _task, needs=("graph",)),
    ("GET", "/graph/neighbourhood"): Case(ORG_READ, query=lambda w: {"kind": "domain", "value": w.graph[0]}),
    ("GET", "/graph/path"): Case(
        ORG_READ,
        query=lambda w: {
            "source_kind": "domain",
            "source_value": w.graph[0],
            "target_kind": "ip",
            "target_value": w.graph[1],
        },
    ),
    ("GET", "/graph/entities"): Case(
        ANY_MEMBER, query=lambda w: {"prefix": MARKER.lower()[:8]}, needs=("graph",)
    ),
    # Merging shared entities is for superusers; an org admin is refused.
    ("POST", "/graph/merge"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        body=lambda w: {
            "keep": {"kind": "domain", "value": "a.example"},
            "duplicate": {"kind": "domain", "value": "b.example"},
        },
    ),
    # investigations (apps/cases): as tasks - viewers read, analysts and admins write, org-scoped
    ("GET", "/investigations"): Case(ANY_MEMBER, needs=("investigation",)),
    ("POST", "/investigations"): Case(
        expect(UNAUTH, FORBIDDEN, CREATED, CREATED, CREATED), body=lambda w: {"title": "c"}
    ),
    ("GET", "/investigations/{investigation_id}"): Case(ORG_READ, _case),
    ("PATCH", "/investigations/{investigation_id}"): Case(
        CASE_WRITE, _case, body=lambda w: {"status": "in_progress"}
    ),
    ("GET", "/investigations/{investigation_id}/tasks"): Case(ORG_READ, _case),
    ("POST", "/investigations/{investigation_id}/tasks"): Case(
        CASE_WRITE, _case, body=lambda w: {"task_id": str(w.task.id)}
    ),
    ("POST", "/investigations/{investigation_id}/tasks/new"): Case(
        CASE_CREATE, _case, body=lambda w: TASK_BODY
    ),
    ("POST", "/investigations/{investigation_id}/follow-ups"): Case(
        CASE_CREATE,
        _case,
        body=lambda w: {"origin_task_id": str(w.task.id), "kind": "domain", "value": "example.org"},
    ),
    ("GET", "/investigations/{investigation_id}/comments"): Case(ORG_READ, _case),
    ("POST", "/investigations/{investigation_id}/comments"): Case(
        CASE_CREATE, _case, body=lambda w: {"body": "a comment"}
    ),
    ("PUT", "/investigations/{investigation_id}/tags"): Case(
        CASE_WRITE, _case, body=lambda w: {"tags": ["x"]}
    ),
    ("GET", "/investigations/{investigation_id}/timeline"): Case(ORG_READ, _case),
    ("GET", "/investigations/{investigation_id}/misp"): Case(ORG_READ, _case),
    ("GET", "/investigations/{investigation_id}/entities"): Case(ORG_READ, _case, needs=("graph",)),
    ("GET", "/investigations/{investigation_id}/stix"): Case(ORG_READ, _case, needs=("graph",)),
    ("POST", "/investigations/{investigation_id}/stix"): Case(CASE_WRITE, _case, body=lambda w: STIX_BUNDLE),
    ("GET", "/tasks/{task_id}/stix"): Case(ORG_READ, _task, needs=("graph",)),
    ("GET", "/tasks/{task_id}/comments"): Case(ORG_READ, _task),
    ("POST", "/tasks/{task_id}/comments"): Case(CASE_CREATE, _task, body=lambda w: {"body": "a comment"}),
    ("GET", "/tasks/{task_id}/tags"): Case(ORG_READ, _task),
    ("PUT", "/tasks/{task_id}/tags"): Case(CASE_WRITE, _task, body=lambda w: {"tags": ["x"]}),
    ("GET", "/tagged/tasks"): Case(
        ANY_MEMBER, query=lambda w: {"tag": "orga-case"}, needs=("investigation",)
    ),
    # playbooks: organisation admins manage them, analysts and admins run them, every member reads
    ("GET", "/playbooks"): Case(ANY_MEMBER, needs=("playbook",)),
    ("POST", "/playbooks"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, CREATED, CREATED),
        body=lambda w: {"name": "pb", "task_type": "investigation", "agents": ["osint"]},
    ),
    ("GET", "/playbooks/{name}"): Case(ORG_READ, lambda w: {"name": w.playbook.name}),
    ("PATCH", "/playbooks/{name}"): Case(
        expect(UNAUTH, FORBIDDEN, FORBIDDEN, OK, NOT_FOUND),
        lambda w: {"name": w.playbook.name},
        body=lambda w: {"description": "changed"},
    ),
    ("POST", "/playbooks/{name}/run"): Case(
        CASE_CREATE, lambda w: {"name": w.playbook.name}, body=lambda w: {"target": "example.org"}
    ),
}

# Websocket routes: "accept", or the close code the consumer sends.
ACCEPT = "accept"
WS_MATRIX: dict[str, Case] = {
    "ws/tasks/<uuid:task_id>/": Case(
        {"anonymous": 4401, "viewer": ACCEPT, "analyst": ACCEPT, "admin": ACCEPT, "other_org": 4404}, _task
    ),
    "ws/monitor/": Case(
        {"anonymous": 4401, "viewer": ACCEPT, "analyst": ACCEPT, "admin": ACCEPT, "other_org": ACCEPT}
    ),
    "ws/investigations/<uuid:investigation_id>/": Case(
        {"anonymous": 4401, "viewer": ACCEPT, "analyst": ACCEPT, "admin": ACCEPT, "other_org": 4404}, _case
    ),
}


# --- discovery -----------------------------------------------------------------------------------


def api_routes() -> list[tuple[str, str]]:
    api.urls  # builds (and freezes) the routers
    routes = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            full = "/" + "/".join(p.strip("/") for p in (prefix, path) if p.strip("/"))
            for operation in path_view.operations:
                routes.extend((method, full) for method in operation.methods)
    return sorted(set(routes))


def ws_routes() -> list[str]:
    return sorted(str(p.pattern) for p in websocket_urlpatterns)


def test_every_route_has_a_row():
    missing = [f"{m} {API_PREFIX}{p}" for m, p in api_routes() if (m, p) not in API_MATRIX]
    missing += [f"websocket {p}" for p in ws_routes() if p not in WS_MATRIX]
    assert not missing, (
        "These routes have no row in tests/security/test_authorization_matrix.py; add one saying what "
        "anonymous, viewer, analyst, admin and another organisation's admin get:\n  " + "\n  ".join(missing)
    )
    stale = [f"{m} {p}" for m, p in API_MATRIX if (m, p) not in api_routes()]
    stale += [p for p in WS_MATRIX if p not in ws_routes()]
    assert not stale, "Rows for routes that no longer exist: " + ", ".join(stale)


def test_every_rest_url_is_a_discovered_operation():
    """api.urls holds nothing the walk above misses (besides the docs and the root)."""
    patterns = [str(p.pattern) for p in api.urls[0]]
    templates = {re.sub(r"\{(\w+)\}", r"<\1>", p).lstrip("/") for _, p in api_routes()}
    extra = [
        p
        for p in patterns
        if re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", p).rstrip("/") not in templates | {"openapi.json", "docs", ""}
    ]
    assert extra == []


# --- the matrix ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), sorted(API_MATRIX))
def test_api_route(method, path, role):
    case = API_MATRIX[(method, path)]
    world = World()
    for name in case.needs:
        getattr(world, name)
    url = API_PREFIX + path.format(**case.params(world))
    query = case.query(world)
    client = world.client(role)
    kwargs: dict[str, Any] = {}
    if case.body is not None:
        kwargs = {"data": case.body(world), "content_type": "application/json"}
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    response = getattr(client, method.lower())(url, **kwargs)
    assert response.status_code == case.expect[role], (
        f"{method} {url} as {role}: expected {case.expect[role]}, got {response.status_code}: "
        f"{response.content[:300]!r}"
    )
    # What org B receives never names org A's objects (unless it named them in the request:
    # "no such entity X" is an echo, not a leak).
    asked = (url + repr(kwargs.get("data"))).lower()
    if role == "other_org" and MARKER.lower() not in asked:
        assert MARKER.lower() not in response.content.decode().lower(), (
            f"{method} {url} leaks organisation A's data"
        )


@dataclass
class WsOutcome:
    accepted: bool
    close_code: int | None = field(default=None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(WS_MATRIX))
async def test_websocket_route(route, role):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections

    from amas.asgi import application

    case = WS_MATRIX[route]

    def prepare() -> tuple[str, list]:
        world = World()
        params = case.params(world)
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(params[m.group(1)]), route)
        headers = [(b"origin", b"http://localhost")]
        if role != "anonymous":
            session = world.client(role).cookies["sessionid"].value
            headers.append((b"cookie", f"sessionid={session}".encode()))
        return path, headers

    path, headers = await sync_to_async(prepare)()
    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        connected, code = await communicator.connect()
        expected = case.expect[role]
        if expected == ACCEPT:
            assert connected, f"{route} as {role}: refused with {code}"
            message = await communicator.receive_from()
            assert MARKER.lower() not in message.lower() or role != "other_org"
        else:
            assert not connected and code == expected, (
                f"{route} as {role}: expected close {expected}, got {code}"
            )
    finally:
        await communicator.disconnect()
        await sync_to_async(connections.close_all)()
