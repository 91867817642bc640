"""Coalesced indexing (apps/knowledge/index_queue.py): sources wait in Redis and one drain
indexes them; what a killed drain had taken is indexed when its message is delivered again."""

import pytest

from apps.core.redis import redis_client
from apps.knowledge import index_queue
from apps.knowledge.models import Chunk, ChunkEmbedding
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue():
    client = redis_client()
    keys = [index_queue.PENDING, index_queue.SCHEDULED, index_queue.TAKEN + "killed", index_queue.TAKEN + "m"]
    client.delete(*keys)
    yield client
    client.delete(*keys)


def test_one_drain_indexes_every_pending_source(queue, organization, analyst, builtin_provider):
    tasks = [make_task(organization, user=analyst, title=f"lookalike domain {n}") for n in range(3)]
    result = make_result(tasks[0], summary="the kit phishes bank credentials")
    for task in tasks:
        queue.rpush(index_queue.PENDING, f"task:{task.pk}")
    queue.rpush(index_queue.PENDING, f"result:{result.pk}", f"result:{result.pk}")

    assert index_queue.drain("m") == 4  # the result pushed twice is indexed once

    for task in tasks:
        assert Chunk.objects.filter(task=task, source_kind="task").exists()
    assert ChunkEmbedding.objects.filter(chunk__result=result).exists()
    assert queue.llen(index_queue.PENDING) == 0
    assert not queue.exists(index_queue.TAKEN + "m")


def test_a_redelivered_drain_finishes_what_its_killed_run_took(
    queue, organization, analyst, builtin_provider
):
    taken, waiting = (make_task(organization, user=analyst, title=t) for t in ("taken", "waiting"))
    # A drain killed after moving a source into its own list leaves exactly this behind.
    queue.rpush(index_queue.TAKEN + "killed", f"task:{taken.pk}")
    queue.rpush(index_queue.PENDING, f"task:{waiting.pk}")

    assert index_queue.drain("killed") == 2

    assert Chunk.objects.filter(task=taken, source_kind="task").exists()
    assert Chunk.objects.filter(task=waiting, source_kind="task").exists()
    assert not queue.exists(index_queue.TAKEN + "killed")


def test_a_source_that_cannot_be_indexed_does_not_hold_up_the_others(
    queue, organization, analyst, builtin_provider
):
    task = make_task(organization, user=analyst, title="still indexed")
    queue.rpush(
        index_queue.PENDING, "result:00000000-0000-0000-0000-000000000000", "nonsense", f"task:{task.pk}"
    )

    index_queue.drain("m")

    assert Chunk.objects.filter(task=task, source_kind="task").exists()
    assert queue.llen(index_queue.PENDING) == 0
