"""Writes of the search index: sources (a task's description, a completed result, a text
artefact) become Chunks, and chunks get vectors through the router.

Re-indexing a source is cheap when nothing changed: a chunk whose text is unchanged keeps its
row and its vectors; only new or changed passages are embedded again.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import transaction

from apps.core.exceptions import ApplicationError
from apps.knowledge.chunking import chunk_text, decode_text, is_text_artefact, result_text, task_text
from apps.knowledge.embedding import chunks_embed
from apps.knowledge.models import Artefact, Chunk, ChunkEmbedding, EmbeddingSpace, SourceKind
from apps.tasks.models import Result, Task

log = logging.getLogger(__name__)


def _source_chunks(
    *,
    source_key: str,
    source_kind: str,
    task: Task,
    text: str,
    created_at: datetime,
    result: Result | None = None,
    artefact: Artefact | None = None,
    agent: str = "",
) -> list[Chunk]:
    """Make the source's chunks match its text. Returns the chunks that need (new) vectors."""
    pieces = chunk_text(text, size=settings.AMAS_CHUNK_SIZE, overlap=settings.AMAS_CHUNK_OVERLAP)
    # No savepoint when a caller's transaction is open (result_index_and_embed): two statements
    # fewer, and a failure here fails the caller's block anyway.
    with transaction.atomic(savepoint=False):
        existing = {c.ordinal: c for c in Chunk.objects.select_for_update().filter(source_key=source_key)}
        stale: list[int] = []
        fresh: list[Chunk] = []
        for ordinal, piece in enumerate(pieces):
            digest = hashlib.sha256(piece.encode()).hexdigest()
            chunk = existing.pop(ordinal, None)
            if chunk is not None and chunk.content_hash == digest:
                continue
            if chunk is not None:
                stale.append(chunk.pk)
            fresh.append(
                Chunk(
                    organization_id=task.organization_id,
                    task=task,
                    result=result,
                    artefact=artefact,
                    source_kind=source_kind,
                    source_key=source_key,
                    ordinal=ordinal,
                    agent=agent[:64],
                    text=piece,
                    content_hash=digest,
                    source_created_at=created_at,
                )
            )
        Chunk.objects.filter(pk__in=stale + [c.pk for c in existing.values()]).delete()
        Chunk.objects.bulk_create(fresh)
    return fresh


def task_index_description(*, task: Task) -> list[Chunk]:
    return _source_chunks(
        source_key=f"task:{task.pk}",
        source_kind=SourceKind.TASK,
        task=task,
        text=task_text(title=task.title, description=task.description, target=task.target),
        created_at=task.created_at,
    )


def result_index(*, result: Result) -> list[Chunk]:
    """A completed result's summary and text fields. Failed results are not knowledge."""
    if result.status != "completed":
        return []
    return _source_chunks(
        source_key=f"result:{result.pk}",
        source_kind=SourceKind.RESULT,
        task=result.task,
        result=result,
        agent=result.agent,
        text=result_text(summary=result.summary, data=result.data or {}),
        created_at=result.created_at,
    )


def artefact_index(*, artefact: Artefact) -> list[Chunk]:
    """A text artefact's first AMAS_INDEX_MAX_ARTEFACT_BYTES bytes; other files are skipped."""
    from apps.knowledge.services import artefact_read

    if not is_text_artefact(artefact.detected_type, artefact.content_type):
        return []
    raw = artefact_read(artefact, limit=settings.AMAS_INDEX_MAX_ARTEFACT_BYTES)
    return _source_chunks(
        source_key=f"artefact:{artefact.pk}",
        source_kind=SourceKind.ARTEFACT,
        task=artefact.task,
        artefact=artefact,
        agent=artefact.produced_by_agent,
        text=f"{artefact.original_name}\n{decode_text(raw)}",
        created_at=artefact.created_at,
    )


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


def task_index(*, task_id: UUID | str) -> int:
    """Index a task's description and text artefacts, embedding what changed."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        return 0
    chunks = task_index_description(task=task)
    for artefact in Artefact.objects.filter(task=task):
        chunks += artefact_index(artefact=artefact)
    return chunks_embed_for_task(task=task, chunks=chunks)


def result_index_and_embed(*, result_id: UUID | str) -> int:
    """Index a result (and the text artefacts its step wrote), embedding what changed. The
    task's description is indexed too if it is not yet (tasks created before indexing existed)."""
    # task__created_by: the router attributes the embedding call to the task's creator.
    result = Result.objects.select_related("task__created_by", "step").filter(pk=result_id).first()
    if result is None:
        return 0
    # The result's and the description's chunks in one transaction; artefacts (read from
    # storage, which may be slow) outside it, as before.
    with transaction.atomic():
        chunks = result_index(result=result)
        if not Chunk.objects.filter(source_key=f"task:{result.task_id}").exists():
            chunks += task_index_description(task=result.task)
    for artefact in Artefact.objects.filter(step_id=result.step_id):
        chunks += artefact_index(artefact=artefact)
    return chunks_embed_for_task(task=result.task, chunks=chunks)


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
