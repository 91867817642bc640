"""Writes of the search index: sources (a task's description, a completed result, a text
artefact) become Chunks, and chunks get vectors through the router.

Re-indexing a source is cheap when nothing changed: a chunk whose text is unchanged keeps its
row and its vectors; only new or changed passages are embedded again. Sources are indexed
together (`sources_index`, what an index drain calls): the statements a batch costs do not grow
with the number of sources, only the router calls do (one per task).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from apps.core.exceptions import ApplicationError
from apps.knowledge.chunking import chunk_text, decode_text, is_text_artefact, result_text, task_text
from apps.knowledge.embedding import ChunkVectors, chunks_embed, chunks_vectors, vectors_store
from apps.knowledge.models import Artefact, Chunk, ChunkEmbedding, EmbeddingSpace, SourceKind
from apps.tasks.models import Result, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceText:
    """One source's text and what its chunks point at."""

    key: str  # "task:<uuid>", "result:<uuid>", "artefact:<uuid>"
    kind: str
    task: Task
    text: str
    created_at: datetime
    result: Result | None = None
    artefact: Artefact | None = None
    agent: str = ""


def chunks_match(sources: Sequence[SourceText]) -> list[Chunk]:
    """Make every source's chunks match its text, in one transaction (one SELECT ... FOR UPDATE
    of the existing chunks of all of them, one DELETE, one INSERT). Returns the chunks that need
    vectors: new or changed passages, and unchanged ones that have no vector in any space (a
    drain killed between this commit and storing their vectors, a refusal by the router)."""
    if not sources:
        return []
    # Sorted by key: two drains writing the same new passages insert them in the same order, so
    # one waits for the other instead of deadlocking.
    sources = sorted({s.key: s for s in sources}.values(), key=lambda s: s.key)
    size, overlap = settings.AMAS_CHUNK_SIZE, settings.AMAS_CHUNK_OVERLAP
    # No savepoint when a caller's transaction is open: two statements fewer, and a failure here
    # fails the caller's block anyway.
    with transaction.atomic(savepoint=False):
        # Tuples, not model instances: most existing chunks are unchanged and vectored (a
        # result's drain matches its task's description again), and building a Chunk per row
        # was a good part of this function's CPU; the few that need vectors are built below.
        existing: dict[str, dict[int, tuple[int, str, bool]]] = defaultdict(dict)
        rows = (
            Chunk.objects.select_for_update(of=("self",))
            .filter(source_key__in=[s.key for s in sources])
            .annotate(vectored=Exists(ChunkEmbedding.objects.filter(chunk=OuterRef("pk"))))
            .order_by("source_key", "ordinal")  # the same lock order in every drain
            .values_list("pk", "source_key", "ordinal", "content_hash", "vectored")
        )
        for pk, key, ordinal, content_hash, vectored in rows:
            existing[key][ordinal] = (pk, content_hash, vectored)
        stale: list[int] = []
        fresh: list[Chunk] = []
        unvectored: list[Chunk] = []
        for source in sources:
            have = existing.pop(source.key, {})
            for ordinal, piece in enumerate(chunk_text(source.text, size=size, overlap=overlap)):
                digest = hashlib.sha256(piece.encode()).hexdigest()
                found = have.pop(ordinal, None)
                if found is not None and found[1] == digest:
                    if not found[2]:
                        unvectored.append(
                            Chunk(
                                pk=found[0],
                                organization_id=source.task.organization_id,
                                task=source.task,
                                source_key=source.key,
                                ordinal=ordinal,
                                text=piece,
                                content_hash=digest,
                            )
                        )
                    continue
                if found is not None:
                    stale.append(found[0])
                fresh.append(
                    Chunk(
                        organization_id=source.task.organization_id,
                        task=source.task,
                        result=source.result,
                        artefact=source.artefact,
                        source_kind=source.kind,
                        source_key=source.key,
                        ordinal=ordinal,
                        agent=source.agent[:64],
                        text=piece,
                        content_hash=digest,
                        source_created_at=source.created_at,
                    )
                )
            stale += [found[0] for found in have.values()]  # passages past the text's new end
        if stale:
            Chunk.objects.filter(pk__in=stale).delete()
        if fresh:
            Chunk.objects.bulk_create(fresh)
    return fresh + unvectored


def task_source(task: Task) -> SourceText:
    return SourceText(
        key=f"task:{task.pk}",
        kind=SourceKind.TASK,
        task=task,
        text=task_text(title=task.title, description=task.description, target=task.target),
        created_at=task.created_at,
    )


def result_source(result: Result, task: Task) -> SourceText | None:
    """A completed result's summary and text fields. Failed results are not knowledge."""
    if result.status != "completed":
        return None
    return SourceText(
        key=f"result:{result.pk}",
        kind=SourceKind.RESULT,
        task=task,
        result=result,
        agent=result.agent,
        text=result_text(summary=result.summary, data=result.data or {}),
        created_at=result.created_at,
    )


def artefact_source(artefact: Artefact, task: Task) -> SourceText | None:
    """A text artefact's first AMAS_INDEX_MAX_ARTEFACT_BYTES bytes (read from storage: call
    outside a transaction); other files are skipped."""
    from apps.knowledge.services import artefact_read

    if not is_text_artefact(artefact.detected_type, artefact.content_type):
        return None
    raw = artefact_read(artefact, limit=settings.AMAS_INDEX_MAX_ARTEFACT_BYTES)
    return SourceText(
        key=f"artefact:{artefact.pk}",
        kind=SourceKind.ARTEFACT,
        task=task,
        artefact=artefact,
        agent=artefact.produced_by_agent,
        text=f"{artefact.original_name}\n{decode_text(raw)}",
        created_at=artefact.created_at,
    )


def task_index_description(*, task: Task) -> list[Chunk]:
    return chunks_match([task_source(task)])


def result_index(*, result: Result) -> list[Chunk]:
    source = result_source(result, result.task)
    return chunks_match([source]) if source is not None else []


def artefact_index(*, artefact: Artefact) -> list[Chunk]:
    source = artefact_source(artefact, artefact.task)
    return chunks_match([source]) if source is not None else []


def chunks_embed_for_task(*, task: Task, chunks: Iterable[Chunk]) -> int:
    """Embed chunks of one task at the task's classification. A refusal by the router (no
    provider may see this classification, budget exhausted) leaves them searchable by full text
    and is logged; `manage.py reembed` picks them up later."""
    chunks = list(chunks)
    if not chunks:
        return 0
    try:
        return chunks_embed(chunks, classification=task.classification, task=task)
    except ApplicationError as exc:
        log.warning("Not embedding %d chunks of task %s: %s", len(chunks), task.pk, exc.message)
        return 0


def sources_index(sources: Iterable[str]) -> int:
    """Index sources ("task:<id>", "result:<id>") together, embedding what changed: a task's
    description and text artefacts; a completed result, the text artefacts its step wrote and
    its task's description. A handful of statements for any number of sources (3 SELECTs, one
    transaction for the chunks, one INSERT for the vectors) plus one router call per task (the
    router admits, budgets and bills each call for its task). A refusal by the router concerns
    that task only. Returns how many vectors were stored."""
    loaded = _sources_load(sources)
    chunks = chunks_match(loaded)
    by_task: dict[object, tuple[Task, list[Chunk]]] = {}
    for chunk in chunks:
        by_task.setdefault(chunk.task_id, (chunk.task, []))[1].append(chunk)
    answers: list[ChunkVectors] = []
    for task, group in by_task.values():
        try:
            for answer in chunks_vectors(group, classification=task.classification, task=task):
                answers.append(answer)
        except ApplicationError as exc:
            log.warning("Not embedding %d chunks of task %s: %s", len(group), task.pk, exc.message)
    return vectors_store(answers)


_TASK_FIELDS = (
    "id",
    "organization_id",
    "classification",
    "title",
    "description",
    "target",
    "created_at",
    "created_by__id",
)
_RESULT_FIELDS = ("id", "task_id", "step_id", "status", "agent", "summary", "data", "created_at")


def _sources_load(sources: Iterable[str]) -> list[SourceText]:
    """The texts of the sources, the task descriptions of their results and their text
    artefacts, in at most three queries (plus reading text artefacts from storage)."""
    task_ids: list[UUID] = []
    result_ids: list[UUID] = []
    for source in sources:
        kind, _, pk = source.partition(":")
        try:
            ident = UUID(pk)
        except ValueError:
            kind = ""
        if kind == "task":
            task_ids.append(ident)
        elif kind == "result":
            result_ids.append(ident)
        else:
            log.warning("Unknown index source %r dropped", source)
    # Only the columns indexing and the router read (a task's creator: its id, which the router
    # bills the embedding call to); the rest of a task and its user are never looked at, and
    # building them was half of this function's CPU. Failed results are not knowledge.
    results = (
        list(
            Result.objects.select_related("task__created_by")
            .only(*_RESULT_FIELDS, *(f"task__{f}" for f in _TASK_FIELDS))
            .filter(pk__in=result_ids, status="completed")
        )
        if result_ids
        else []
    )
    tasks = {r.task_id: r.task for r in results}
    missing = [pk for pk in task_ids if pk not in tasks]
    if missing:
        rows = Task.objects.select_related("created_by").only(*_TASK_FIELDS).filter(pk__in=missing)
        tasks.update((t.pk, t) for t in rows)
    wanted = Q(task_id__in=[pk for pk in task_ids if pk in tasks])
    steps = [r.step_id for r in results if r.step_id is not None]
    if steps:
        wanted |= Q(step_id__in=steps)
    artefacts = list(Artefact.objects.filter(wanted)) if tasks else []
    loaded: list[SourceText | None] = [task_source(t) for t in tasks.values()]
    loaded += [result_source(r, tasks[r.task_id]) for r in results]
    loaded += [artefact_source(a, tasks[a.task_id]) for a in artefacts if a.task_id in tasks]
    return [s for s in loaded if s is not None]


def task_index(*, task_id: UUID | str) -> int:
    """Index a task's description and text artefacts, embedding what changed."""
    return sources_index([f"task:{task_id}"])


def result_index_and_embed(*, result_id: UUID | str) -> int:
    """Index a result (and the text artefacts its step wrote) and its task's description,
    embedding what changed."""
    return sources_index([f"result:{result_id}"])


def chunks_reembed(
    *, batch_size: int = 500, force: bool = False, organization_id: int | None = None
) -> dict[str, int]:
    """Embed every chunk again with the model the router uses now for its task's classification.
    Without `force`, chunks that already have a vector in that space are skipped. Returns how
    many chunks were embedded, per classification."""
    counts: dict[str, int] = defaultdict(int)
    spaces: dict[str, EmbeddingSpace | None] = {}
    qs = Chunk.objects.select_related("task").order_by("pk")
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    last = 0
    while True:
        page = list(qs.filter(pk__gt=last)[:batch_size])
        if not page:
            break
        last = page[-1].pk
        by_task: dict[object, list[Chunk]] = defaultdict(list)
        for chunk in page:
            by_task[chunk.task_id].append(chunk)
        for chunks in by_task.values():
            task = chunks[0].task
            if not force:
                chunks = _missing_in(_current_space(task, spaces), chunks)
            counts[task.classification] += chunks_embed_for_task(task=task, chunks=chunks)
    return dict(counts)


def _current_space(task: Task, spaces: dict[str, EmbeddingSpace | None]) -> EmbeddingSpace | None:
    """The space the router answers with for the task's classification (one probe per
    classification and run)."""
    from apps.knowledge.embedding import embed_texts

    level = task.classification
    if level not in spaces:
        try:
            spaces[level] = embed_texts(["probe"], classification=level, task=task, purpose="index").space
        except ApplicationError:
            spaces[level] = None
    return spaces[level]


def _missing_in(space: EmbeddingSpace | None, chunks: list[Chunk]) -> list[Chunk]:
    if space is None:
        return chunks
    have = set(
        ChunkEmbedding.objects.filter(space=space, chunk__in=chunks).values_list("chunk_id", flat=True)
    )
    return [c for c in chunks if c.pk not in have]


def spaces_prune(*, keep: Iterable[EmbeddingSpace]) -> int:
    """Delete the vectors (and HNSW indexes) of every space but `keep`. Chunks stay."""
    from django.db import connection

    keep_ids = {s.pk for s in keep}
    removed = 0
    for space in EmbeddingSpace.objects.exclude(pk__in=keep_ids):
        with transaction.atomic():
            removed += ChunkEmbedding.objects.filter(space=space).delete()[0]
            with connection.cursor() as cur:
                cur.execute(f"DROP INDEX IF EXISTS {space.index_name}")
            space.delete()
    return removed
