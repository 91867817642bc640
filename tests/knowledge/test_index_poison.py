"""Poison sources in the index queue (apps/knowledge/index_queue.py): a source whose indexing
always fails is retried by the sweep, dead-lettered after AMAS_INDEX_MAX_ATTEMPTS attempts
without holding up the sources taken with it, shown to operators (manage.py index_dead, /metrics)
and re-queued by them; taken lists from drains that never stamped them are recovered.

The poison is real: a task whose attached text file is gone from storage (its indexing reads the
file and fails with FileNotFoundError every time)."""

import io
import time

import pytest
from django.core.management import call_command

from apps.core import metrics
from apps.core.redis import redis_client
from apps.knowledge import index_queue
from apps.knowledge.models import Artefact, Chunk, ChunkEmbedding
from apps.knowledge.tasks import index_sweep_task
from tests.ops.conftest import scrape, value
from tests.tasks.factories import make_task

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_TEXT = "the dropper beacons to c2.example.net"


@pytest.fixture
def queue():
    client = redis_client()

    def clean():
        client.delete(
            index_queue.PENDING,
            index_queue.SCHEDULED,
            index_queue.TAKEN_AT,
            index_queue.RETRY,
            index_queue.DEAD,
            index_queue.UNSTAMPED_SCANNED,
            *client.keys(index_queue.TAKEN + "*"),
            *client.keys(index_queue.ATTEMPTS + "*"),
        )

    clean()
    metrics.reset()
    yield client
    clean()
    from apps.providers import bookkeeping

    bookkeeping.flush()  # the router's ledger rows are written before the database is flushed


def poison_task(organization, analyst):
    """A task whose text attachment was lost from storage: indexing it always raises."""
    task = make_task(organization, user=analyst, title="poison", files={"notes.txt": SECRET_TEXT})
    artefact = Artefact.objects.get(task=task)
    artefact.file.storage.delete(artefact.file.name)
    return task, artefact


def indexed(task) -> bool:
    return ChunkEmbedding.objects.filter(chunk__task=task, chunk__source_kind="task").exists()


def wait(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_source_that_always_fails_is_dead_lettered_after_n_attempts_and_the_others_are_indexed(
    queue, client, organization, analyst, builtin_provider, celery_worker, settings
):
    attempts = settings.AMAS_INDEX_MAX_ATTEMPTS
    assert attempts >= 2
    poison, _ = poison_task(organization, analyst)
    source = f"task:{poison.pk}"
    others = [make_task(organization, user=analyst, title=f"taken with the poison {n}") for n in range(2)]
    queue.rpush(index_queue.PENDING, source, *(f"task:{t.pk}" for t in others))

    for attempt in range(1, attempts + 1):
        if attempt > 1:
            # Another source arrives, and the poison's retry is due (as the sweep would find it
            # RETRY_DELAY * 2**(attempt - 2) seconds later): the same drain takes both.
            others.append(make_task(organization, user=analyst, title=f"arrived for attempt {attempt}"))
            queue.rpush(index_queue.PENDING, f"task:{others[-1].pk}")
            queue.zadd(index_queue.RETRY, {source: 0})
        index_sweep_task.apply_async(queue="maintenance")  # the beat sweep, on the real worker

        def attempt_ended():
            waits_again = (queue.zscore(index_queue.RETRY, source) or 0) > 0
            return waits_again or queue.hexists(index_queue.DEAD, source)

        wait(attempt_ended, f"attempt {attempt} at the poison source did not end")
        wait(lambda: all(indexed(t) for t in others), f"the sources taken with attempt {attempt} not indexed")
        if attempt < attempts:
            assert int(queue.get(index_queue.ATTEMPTS + source)) == attempt
            assert not queue.hexists(index_queue.DEAD, source)

    dead = index_queue.dead_letters(queue)
    assert list(dead) == [source]
    assert dead[source]["attempts"] == attempts
    assert dead[source]["error"].startswith("FileNotFoundError")
    assert dead[source]["at"] == pytest.approx(time.time(), abs=60)
    assert not Chunk.objects.filter(task=poison).exists()
    # No longer retried: nothing waits, and a sweep gives nothing back.
    assert queue.zcard(index_queue.RETRY) == 0
    assert not queue.exists(index_queue.ATTEMPTS + source)
    assert index_queue.retries_release(queue, now=time.time() + 10**6) == 0
    assert queue.llen(index_queue.PENDING) == 0

    samples = scrape(client)
    assert value(samples, "amas_index_dead_lettered_total") == 1
    assert value(samples, "amas_index_dead_letters") == 1
    assert value(samples, "amas_index_retries_waiting") == 0


def test_a_dead_letter_is_logged_once_at_warning_without_the_documents_text(
    queue, organization, analyst, builtin_provider, settings, caplog
):
    settings.AMAS_INDEX_MAX_ATTEMPTS = 1
    poison, _ = poison_task(organization, analyst)
    other = make_task(organization, user=analyst, title="indexed all the same")
    queue.rpush(index_queue.PENDING, f"task:{poison.pk}", f"task:{other.pk}")

    with caplog.at_level("INFO", logger="apps.knowledge.index_queue"):
        index_queue.drain("m")

    assert indexed(other)
    letters = [r for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert [r.levelname for r in letters] == ["WARNING"]
    assert f"task:{poison.pk}" in letters[0].getMessage()
    assert SECRET_TEXT not in caplog.text
    assert not queue.exists(index_queue.TAKEN + "m")


def test_an_operator_lists_and_requeues_a_dead_source_which_is_then_indexed(
    queue, client, organization, analyst, builtin_provider, settings, celery_worker
):
    settings.AMAS_INDEX_MAX_ATTEMPTS = 1
    poison, artefact = poison_task(organization, analyst)
    source = f"task:{poison.pk}"
    queue.rpush(index_queue.PENDING, source)
    index_queue.drain("m")
    assert queue.hexists(index_queue.DEAD, source)

    listed = io.StringIO()
    call_command("index_dead", "--list", stdout=listed)
    assert source in listed.getvalue() and "FileNotFoundError" in listed.getvalue()
    assert "1 dead-lettered source(s)" in listed.getvalue()

    # The operator fixes the cause (puts the file back) and re-queues; the drain the command
    # sends runs on the real worker.
    artefact.file.storage.save(artefact.file.name, io.BytesIO(SECRET_TEXT.encode()))
    requeued = io.StringIO()
    call_command("index_dead", "--requeue", stdout=requeued)
    assert "Re-queued 1 source(s)" in requeued.getvalue()
    assert not queue.hexists(index_queue.DEAD, source)

    wait(lambda: indexed(poison), "the re-queued source was not indexed")
    wait(
        lambda: ChunkEmbedding.objects.filter(chunk__task=poison, chunk__source_kind="artefact").exists(),
        "the re-queued source's attachment was not indexed",
    )
    assert index_queue.dead_letters(queue) == {}
    assert value(scrape(client), "amas_index_dead_letters") == 0


def test_requeueing_a_source_that_is_not_dead_is_a_clear_error(queue):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="task:00000000-0000-0000-0000-000000000000"):
        call_command("index_dead", "--requeue", "task:00000000-0000-0000-0000-000000000000")
    assert queue.llen(index_queue.PENDING) == 0


def test_a_taken_list_without_a_stamp_is_stamped_by_the_sweep_and_recovered_a_period_later(
    queue, organization, analyst, builtin_provider, celery_worker
):
    task = make_task(organization, user=analyst, title="taken before drains stamped their lists")
    queue.rpush(index_queue.TAKEN + "pre-round-5", f"task:{task.pk}")

    index_sweep_task.apply_async(queue="maintenance")
    wait(lambda: queue.zscore(index_queue.TAKEN_AT, "pre-round-5") is not None, "the sweep did not stamp it")
    # Stamped with the time it was found: not abandoned yet, so still there.
    assert queue.zscore(index_queue.TAKEN_AT, "pre-round-5") == pytest.approx(time.time(), abs=30)
    assert queue.llen(index_queue.TAKEN + "pre-round-5") == 1
    assert not indexed(task)

    # One period later (the stamp as old as the drain's time limit plus the margin).
    queue.zadd(index_queue.TAKEN_AT, {"pre-round-5": time.time() - index_queue.taken_stale_seconds() - 5})
    index_sweep_task.apply_async(queue="maintenance")

    wait(lambda: indexed(task), "the unstamped taken list was not recovered")
    assert not queue.exists(index_queue.TAKEN + "pre-round-5")
    assert queue.zscore(index_queue.TAKEN_AT, "pre-round-5") is None


def test_object_storage_down_fails_the_drain_and_counts_against_no_source(
    queue, organization, analyst, settings
):
    """An S3 outage is not a poison: a source whose file cannot be read because the storage is
    unreachable keeps no failed attempt (else an outage of a few minutes would dead-letter every
    task with a file); the drain fails and is retried with its taken list."""
    from amas.testing.s3 import MotoS3Server

    server = MotoS3Server()
    server.start()
    try:
        settings.STORAGES = {
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": server.storage_options(server.create_bucket()),
            },
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        task = make_task(organization, user=analyst, title="stored in s3", files={"notes.txt": SECRET_TEXT})
        assert Artefact.objects.get(task=task).file.storage.exists(Artefact.objects.get(task=task).file.name)
    finally:
        server.stop()
    source = f"task:{task.pk}"
    queue.rpush(index_queue.PENDING, source)
    with pytest.raises(index_queue._fatal()):
        index_queue.drain("s3-down")
    assert not queue.exists(index_queue.ATTEMPTS + source)
    assert queue.zcard(index_queue.RETRY) == 0 and not queue.hexists(index_queue.DEAD, source)
    assert queue.lrange(index_queue.TAKEN + "s3-down", 0, -1) == [source.encode()]  # kept for the retry
