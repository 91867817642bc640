"""What an agent sees of the knowledge app through its context (ctx.storage, ctx.graph), filled by
the real contributor: the task's own files, its organisation's earlier uploads and graph, nothing
of another organisation."""

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile

from apps.agents.base import AgentContext, AgentParams, Entity, Relation
from apps.agents.context import contribute
from apps.knowledge.graph import GraphBatch, Provenance, get_graph_store
from apps.knowledge.models import Artefact
from apps.knowledge.services import artefact_create
from apps.tasks.models import TaskStep
from apps.users.services import organization_get_or_create
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def context_for(task, agent_type="ml"):
    step = TaskStep.objects.create(task=task, agent_type=agent_type, position=task.steps.count())
    ctx = AgentContext(task=task, step=step, parameters=AgentParams())
    contribute(ctx)  # every registered contributor, as the worker does
    return ctx


def emit(task, relation):
    get_graph_store().upsert(
        GraphBatch(
            provenance=Provenance(task.organization_id, str(task.pk), str(uuid.uuid4()), "osint"),
            seen_at=datetime(2026, 3, 1, tzinfo=UTC),
            entities=[],
            relations=[relation],
        )
    )


def test_storage_reads_the_tasks_files_and_writes_the_steps_artefacts(
    organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # uploads reach storage on commit
        task = make_task(organization, files={"a.csv": "x,y\n1,2\n", "b.txt": "hello"})
    ctx = context_for(task)

    inputs = ctx.storage.inputs()
    assert [a.original_name for a in inputs] == ["a.csv", "b.txt"]
    assert ctx.storage.read(inputs[1]) == b"hello"

    written = ctx.storage.write("model.bin", b"\x00\x01")
    assert (written.step_id, written.produced_by_agent) == (ctx.step.pk, "ml")
    assert [a.original_name for a in ctx.storage.inputs()] == ["a.csv", "b.txt"], "outputs are not inputs"
    assert ctx.storage.produced(written.id) == written

    assert ctx.storage.clear_step_outputs() == 1  # a re-delivered step starts clean
    assert not Artefact.objects.filter(pk=written.pk).exists()


def test_storage_sees_its_own_organisation_only(organization):
    other = organization_get_or_create(name=f"Other {uuid.uuid4().hex[:6]}")
    data = b"the same file"
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = make_task(organization, files={"first.bin": data})
    make_task(other, files={"theirs.bin": data})
    theirs_model = artefact_create(
        task=make_task(other), file=ContentFile(b"m", name="m.bin"), produced_by_agent="ml"
    )
    ctx = context_for(make_task(organization, files={"again.bin": data}))

    seen = ctx.storage.earlier_uploads(sha256=sha256)
    assert [(a.task_id, a.original_name) for a in seen] == [(earlier.pk, "first.bin")]
    assert ctx.storage.produced(theirs_model.id) is None


def test_graph_reads_the_organisations_graph_only(organization):
    other = organization_get_or_create(name=f"Other {uuid.uuid4().hex[:6]}")
    mine, theirs = make_task(organization), make_task(other)
    emit(mine, Relation(Entity("domain", "example.org"), "resolves_to", Entity("ip", "192.0.2.1")))
    emit(theirs, Relation(Entity("domain", "example.org"), "resolves_to", Entity("ip", "203.0.113.9")))
    ctx = context_for(make_task(organization))

    around = ctx.graph.neighbourhood("domain", "example.org")
    assert {(n.kind, n.value) for n in around.nodes} == {("domain", "example.org"), ("ip", "192.0.2.1")}
    assert ctx.graph.get("ip", "203.0.113.9") is None
    assert [e.value for e in ctx.graph.search("192.0", kind="ip")] == ["192.0.2.1"]
    assert ctx.graph.neighbourhood("domain", "unknown.example") is None
