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
    keys = [
        index_queue.PENDING,
        index_queue.SCHEDULED,
        index_queue.TAKEN + "killed",
        index_queue.TAKEN + "m",
        index_queue.TAKEN_AT,
        index_queue.RETRY,
        index_queue.DEAD,
        index_queue.UNSTAMPED_SCANNED,
    ]
    client.delete(*keys)
    yield client
    client.delete(*keys)
    from apps.providers import bookkeeping

    bookkeeping.flush()  # the router's ledger rows are written before the database is flushed


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


def ledger(**filters):
    from apps.providers import bookkeeping
    from apps.providers.models import ProviderCall

    bookkeeping.flush()  # ledger rows are written behind the router's calls
    return ProviderCall.objects.filter(operation="embed", **filters)


def test_a_drain_costs_the_same_statements_for_one_task_or_many_and_one_router_call_per_task(
    queue, organization, analyst, builtin_provider
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def drained(n, name):
        tasks = [make_task(organization, user=analyst, title=f"{name} {i}") for i in range(n)]
        results = [make_result(t, summary=f"{name} finding {i}") for i, t in enumerate(tasks)]
        for task, result in zip(tasks, results, strict=True):
            queue.rpush(index_queue.PENDING, f"task:{task.pk}", f"result:{result.pk}")
        with CaptureQueriesContext(connection) as captured:
            assert index_queue.drain("m") == 2 * n
        return tasks, len(captured)

    drained(1, "warm up")  # the provider rows and the embedding space, read once per process
    _, one = drained(1, "single")
    tasks, five = drained(5, "batch")

    assert five == one
    for task in tasks:  # each task's description and result: one call, billed to that task
        assert ledger(task=task).count() == 1
        assert ChunkEmbedding.objects.filter(chunk__task=task).count() == 2


def test_a_reindex_of_unchanged_text_embeds_nothing_and_failed_results_are_not_indexed(
    queue, organization, analyst, builtin_provider
):
    task = make_task(organization, user=analyst, title="ransomware note")
    done = make_result(task, summary="LockBit note found on the share")
    failed = make_result(task, summary="the scanner crashed", status="failed")
    queue.rpush(index_queue.PENDING, f"task:{task.pk}", f"result:{done.pk}", f"result:{failed.pk}")
    index_queue.drain("m")
    vectors = {pk: list(v) for pk, v in ChunkEmbedding.objects.values_list("pk", "vector")}
    assert ledger(task=task).count() == 1

    queue.rpush(index_queue.PENDING, f"task:{task.pk}", f"result:{done.pk}", f"result:{failed.pk}")
    index_queue.drain("m")

    assert ledger(task=task).count() == 1  # no router call
    assert {pk: list(v) for pk, v in ChunkEmbedding.objects.values_list("pk", "vector")} == vectors
    assert not Chunk.objects.filter(result=failed).exists()
    assert Chunk.objects.filter(result=done).exists()


def test_text_artefacts_are_indexed_with_their_task(queue, organization, analyst, builtin_provider):
    task = make_task(
        organization,
        user=analyst,
        title="mail dump",
        files={"notes.txt": "the dropper beacons to c2.example.net", "blob.bin": bytes(range(256))},
    )
    queue.rpush(index_queue.PENDING, f"task:{task.pk}")

    index_queue.drain("m")

    artefact_chunks = Chunk.objects.filter(task=task, source_kind="artefact")
    assert [c.text.splitlines()[0] for c in artefact_chunks] == ["notes.txt"]
    assert ChunkEmbedding.objects.filter(chunk__in=artefact_chunks).exists()


def test_a_refused_task_stays_searchable_by_text_and_holds_up_no_other_task(
    queue, organization, analyst, builtin_provider, caplog
):
    builtin_provider.allowed_classifications = ["clear", "green", "amber"]
    builtin_provider.save()
    secret = make_task(organization, user=analyst, title="red operation", classification="red")
    open_ = make_task(organization, user=analyst, title="green operation", classification="green")
    queue.rpush(index_queue.PENDING, f"task:{secret.pk}", f"task:{open_.pk}")

    index_queue.drain("m")

    assert Chunk.objects.filter(task=secret).exists()
    assert not ChunkEmbedding.objects.filter(chunk__task=secret).exists()
    assert ChunkEmbedding.objects.filter(chunk__task=open_).exists()
    assert f"Not embedding 1 chunks of task {secret.pk}" in caplog.text
    assert ledger(task=secret, outcome="refused_policy").count() == 1


def test_chunks_a_killed_drain_wrote_without_vectors_get_them_from_the_redelivered_message(
    queue, organization, analyst, builtin_provider
):
    from apps.knowledge.indexing import task_index_description

    task = make_task(organization, user=analyst, title="half done")
    # Killed after the chunks' transaction committed, before their vectors were stored.
    task_index_description(task=task)
    queue.rpush(index_queue.TAKEN + "killed", f"task:{task.pk}")

    index_queue.drain("killed")

    assert Chunk.objects.filter(task=task).count() == 1
    assert ChunkEmbedding.objects.filter(chunk__task=task).count() == 1


def test_vectors_land_in_a_new_space_row_when_the_memoised_one_was_deleted(
    queue, organization, analyst, builtin_provider
):
    from apps.knowledge.models import EmbeddingSpace

    first = make_task(organization, user=analyst, title="before the prune")
    queue.rpush(index_queue.PENDING, f"task:{first.pk}")
    index_queue.drain("m")
    gone = EmbeddingSpace.objects.get()
    gone.delete()  # what spaces_prune does in another process; this process still remembers it

    second = make_task(organization, user=analyst, title="after the prune")
    queue.rpush(index_queue.PENDING, f"task:{second.pk}")
    index_queue.drain("m")

    space = EmbeddingSpace.objects.get()
    assert space.pk != gone.pk and space.model == gone.model
    assert ChunkEmbedding.objects.filter(chunk__task=second, space=space).count() == 1


def test_the_beat_sweep_sends_a_drain_when_sources_wait_and_none_is_scheduled(
    queue, organization, analyst, builtin_provider, celery_worker
):
    import time

    from apps.knowledge.tasks import index_sweep_task

    task = make_task(organization, user=analyst, title="pushed while the broker lost the drain")
    # The drain message sent for this push was lost, and SCHEDULED has expired since.
    queue.rpush(index_queue.PENDING, f"task:{task.pk}")

    index_sweep_task.apply_async(queue="maintenance")

    deadline = time.monotonic() + 30
    while not ChunkEmbedding.objects.filter(chunk__task=task).exists():
        assert time.monotonic() < deadline, "the sweep's drain did not index the waiting source"
        time.sleep(0.1)
    assert queue.llen(index_queue.PENDING) == 0


def test_the_sweep_sends_nothing_while_a_drain_is_scheduled_or_nothing_waits(queue):
    assert index_queue.sweep() is False  # nothing waits
    queue.rpush(index_queue.PENDING, "task:00000000-0000-0000-0000-000000000000")
    queue.set(index_queue.SCHEDULED, 1, ex=60)
    assert index_queue.sweep() is False  # a drain is on its way
    assert queue.llen(index_queue.PENDING) == 1


def test_each_chunk_gets_exactly_the_vector_the_router_gave_for_its_text(
    queue, organization, analyst, builtin_provider
):
    from apps.providers import router

    tasks = [
        make_task(organization, user=analyst, title=f"vector {n}", description="ab" * n) for n in range(3)
    ]
    for task in tasks:
        queue.rpush(index_queue.PENDING, f"task:{task.pk}")

    index_queue.drain("m")

    stored = list(ChunkEmbedding.objects.select_related("chunk").order_by("chunk__source_key"))
    assert len(stored) == 3
    expected = router.embed([e.chunk.text for e in stored], classification="clear").vectors
    for embedding, vector in zip(stored, expected, strict=True):
        assert list(embedding.vector) == pytest.approx(vector, abs=1e-6)


def test_the_sweep_gives_back_what_a_drain_that_failed_for_good_had_taken(
    queue, organization, analyst, builtin_provider, celery_worker
):
    """A drain killed by its hard time limit (or failing with an error it does not retry) is not
    delivered again: its taken list waited forever. The beat sweep, on the real worker, now moves
    it back to the queue and sends a drain for it."""
    import time

    from apps.knowledge.tasks import index_sweep_task

    task = make_task(organization, user=analyst, title="taken by a drain that died")
    # What the dead drain left behind: its list, stamped longer ago than its hard time limit.
    queue.rpush(index_queue.TAKEN + "killed", f"task:{task.pk}")
    queue.zadd(index_queue.TAKEN_AT, {"killed": time.time() - index_queue.taken_stale_seconds() - 5})

    index_sweep_task.apply_async(queue="maintenance")

    deadline = time.monotonic() + 30
    while not ChunkEmbedding.objects.filter(chunk__task=task).exists():
        assert time.monotonic() < deadline, "the abandoned taken list was not indexed"
        time.sleep(0.1)
    assert not queue.exists(index_queue.TAKEN + "killed")
    assert queue.zscore(index_queue.TAKEN_AT, "killed") is None


def test_the_sweep_leaves_a_list_that_a_live_drain_stamped_recently(queue):
    import time

    queue.rpush(index_queue.TAKEN + "m", "task:00000000-0000-0000-0000-000000000000")
    queue.zadd(index_queue.TAKEN_AT, {"m": time.time() - 5})
    queue.set(index_queue.SCHEDULED, 1, ex=60)

    assert index_queue.recover_abandoned(queue) == 0
    assert queue.llen(index_queue.TAKEN + "m") == 1
    assert queue.llen(index_queue.PENDING) == 0
    # The same list once its stamp is older than the bound: given back, stamp removed.
    assert index_queue.recover_abandoned(queue, older_than=1) == 1
    assert queue.lrange(index_queue.PENDING, 0, -1) == [b"task:00000000-0000-0000-0000-000000000000"]
    assert not queue.exists(index_queue.TAKEN + "m")
    assert queue.zscore(index_queue.TAKEN_AT, "m") is None


def test_a_drain_that_finishes_leaves_no_stamp_and_a_dead_runs_list_is_finished_by_its_redelivery(
    queue, organization, analyst, builtin_provider
):
    import time

    task = make_task(organization, user=analyst, title="stamped")
    queue.rpush(index_queue.TAKEN + "killed", f"task:{task.pk}")
    queue.zadd(index_queue.TAKEN_AT, {"killed": time.time() - 10})

    assert index_queue.drain("killed") == 1

    assert Chunk.objects.filter(task=task, source_kind="task").exists()
    assert queue.zcard(index_queue.TAKEN_AT) == 0
    assert not queue.exists(index_queue.TAKEN + "killed")
