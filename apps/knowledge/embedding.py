"""Vectors for chunks, through the provider router (`apps.providers.router.embed`).

Every embedding belongs to an EmbeddingSpace: the (model, dimension) the router reported for it.
A space gets its own partial HNSW index, created the first time the router returns that model,
over its vectors as half-precision floats (`vector::halfvec(<dim>)`, cosine; pgvector indexes
halfvec up to 4,000 dimensions). Searches embed the query, land in the space the router answered
with, take the nearest rows through that index (`ann_sql`, exactly the indexed expression) and
sort those by exact cosine distance on the stored vectors (`distance_sql`).

Why halfvec (bench/search.py, docs/benchmarks.md "Search and router (issue 19)"): at 1M x 384 it
reached recall@10 0.957 at ef_search 640 (0.956 at 580, the default since round 4) where the
full-vector index with the same build parameters topped out at 0.915 (earlier run) and binary
quantisation with 2,000 candidates re-ranked at 0.947; its index is 1.1 GB against 1.95 GB for
full vectors.
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


def ann_sql(space: EmbeddingSpace, column: str = "e.vector") -> str:
    """`<column>::halfvec <=> %s::halfvec`: the cosine distance the space's HNSW index serves."""
    half = f"halfvec({int(space.dimension)})"
    return f"(({column})::{half} <=> %s::{half})"


def index_sql(space: EmbeddingSpace, *, concurrently: bool = False) -> str:
    """CREATE INDEX for a space's HNSW index over its vectors as halfvec (m and ef_construction:
    the pgvector defaults, 16 and 64, measured in bench/search.py)."""
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {space.index_name} ON knowledge_chunkembedding "
        f"USING hnsw ((vector::halfvec({int(space.dimension)})) halfvec_cosine_ops) "
        f"WHERE space_id = {int(space.pk)}"
    )


def space_ensure_index(space: EmbeddingSpace) -> None:
    """Create the space's HNSW index if it is missing (idempotent, safe across processes)."""
    if space.pk in _indexed:
        return
    with transaction.atomic(), connection.cursor() as cur:
        # Two workers meeting a new model at once: one builds, the other waits and finds it.
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7_000_007, int(space.pk)])
        # CREATE INDEX refuses to run while the table has deferred FK checks pending in this
        # transaction (rows embedded earlier in it): run those checks now, then defer again.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(index_sql(space))
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
