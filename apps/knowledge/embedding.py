"""Vectors for chunks, through the provider router (`apps.providers.router.embed`).

Every embedding belongs to an EmbeddingSpace: the (model, dimension) the router reported for it.
A space gets its own partial HNSW index over `vector::vector(<dim>)` (halfvec above 2,000
dimensions, pgvector's limit for `vector` indexes) with cosine distance, created the first time
the router returns that model. Searches embed the query, land in the space the router answered
with, and use exactly the expression of that space's index (`distance_sql`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction

from apps.knowledge.models import Chunk, ChunkEmbedding, EmbeddingSpace

if TYPE_CHECKING:
    from apps.tasks.models import Task

log = logging.getLogger(__name__)

VECTOR_INDEX_MAX_DIM = 2000  # pgvector: HNSW on `vector` up to 2,000 dims, `halfvec` up to 4,000
_indexed: set[int] = set()


def space_cast(space: EmbeddingSpace) -> str:
    """The SQL type a space's vectors are cast to, in its index and in every query on it."""
    dim = int(space.dimension)
    return f"halfvec({dim})" if dim > VECTOR_INDEX_MAX_DIM else f"vector({dim})"


def distance_sql(space: EmbeddingSpace, column: str = "e.vector") -> str:
    """`<column>::<cast> <=> %s::<cast>`: the cosine distance the space's HNSW index serves.
    `column` is always one of our own column references, never user input."""
    cast = space_cast(space)
    return f"(({column})::{cast} <=> %s::{cast})"


def space_ensure_index(space: EmbeddingSpace) -> None:
    """Create the space's HNSW index if it is missing (idempotent, safe across processes)."""
    if space.pk in _indexed:
        return
    cast = space_cast(space)
    opclass = "halfvec_cosine_ops" if cast.startswith("halfvec") else "vector_cosine_ops"
    with transaction.atomic(), connection.cursor() as cur:
        # Two workers meeting a new model at once: one builds, the other waits and finds it.
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7_000_007, int(space.pk)])
        # CREATE INDEX refuses to run while the table has deferred FK checks pending in this
        # transaction (rows embedded earlier in it): run those checks now, then defer again.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(
            f"CREATE INDEX IF NOT EXISTS {space.index_name} ON knowledge_chunkembedding "
            f"USING hnsw ((vector::{cast}) {opclass}) WHERE space_id = {int(space.pk)}"
        )
        cur.execute("SET CONSTRAINTS ALL DEFERRED")
    _indexed.add(space.pk)


def space_get_or_create(*, model: str, dimension: int, provider: str = "") -> EmbeddingSpace:
    space, _ = EmbeddingSpace.objects.get_or_create(
        model=model[:200], dimension=int(dimension), defaults={"provider": provider[:100]}
    )
    space_ensure_index(space)
    return space


@dataclass
class Embedded:
    space: EmbeddingSpace
    vectors: list[list[float]]


def embed_texts(
    texts: Sequence[str], *, classification: str, task: Task | None = None, purpose: str
) -> Embedded:
    """One router call. Raises the router's errors (ProviderUnavailable, ClassificationPolicyError,
    BudgetExceeded) unchanged."""
    from apps.providers import router

    result = router.embed(list(texts), classification=classification, task=task, purpose=purpose)
    space = space_get_or_create(model=result.model, dimension=result.dimension, provider=result.provider)
    return Embedded(space=space, vectors=result.vectors)


def _batches(items: Sequence[Chunk], size: int) -> Iterable[Sequence[Chunk]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def chunks_embed(chunks: Sequence[Chunk], *, classification: str, task: Task | None = None) -> int:
    """Embed chunks in batches of AMAS_EMBED_BATCH_SIZE and store their vectors in whatever space
    the router answered with (replacing a vector already there). Returns how many were stored."""
    stored = 0
    for batch in _batches(list(chunks), max(1, settings.AMAS_EMBED_BATCH_SIZE)):
        embedded = embed_texts(
            [c.text for c in batch], classification=classification, task=task, purpose="index"
        )
        ChunkEmbedding.objects.bulk_create(
            [
                ChunkEmbedding(chunk=chunk, space=embedded.space, vector=vector)
                for chunk, vector in zip(batch, embedded.vectors, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["chunk", "space"],
            update_fields=["vector"],
        )
        stored += len(batch)
    return stored
