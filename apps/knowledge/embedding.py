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

import functools
import logging
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
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


# (model, dimension) -> its row, per process: indexing asked Postgres for the space on every
# router call. A row can go away under the memo (spaces_prune in another process, a test's flush):
# vectors_store joins every row it writes with its space, notices rows that found none, and
# resolves those spaces again (space_forget).
_spaces: dict[tuple[str, int], EmbeddingSpace] = {}


def space_memo(*, model: str, dimension: int, provider: str = "") -> EmbeddingSpace:
    key = (model[:200], int(dimension))
    space = _spaces.get(key)
    if space is None:
        space = _spaces[key] = space_get_or_create(model=model, dimension=dimension, provider=provider)
    return space


def space_forget(space: EmbeddingSpace) -> None:
    _spaces.pop((space.model, int(space.dimension)), None)
    _indexed.discard(space.pk)


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


@dataclass
class ChunkVectors:
    """One router call's answer for some chunks: their vectors and the space they belong to."""

    chunks: Sequence[Chunk]
    model: str
    dimension: int
    provider: str
    vectors: list[list[float]]


def chunks_vectors(
    chunks: Sequence[Chunk], *, classification: str, task: Task | None = None
) -> Iterator[ChunkVectors]:
    """The chunks' vectors, one router call per AMAS_EMBED_BATCH_SIZE chunks, as each call
    answers. Raises the router's errors unchanged (what earlier calls answered was yielded)."""
    from apps.providers import router

    for batch in _batches(list(chunks), max(1, settings.AMAS_EMBED_BATCH_SIZE)):
        texts = [c.text for c in batch]
        answer = router.embed(texts, classification=classification, task=task, purpose="index")
        yield ChunkVectors(batch, answer.model, answer.dimension, answer.provider, answer.vectors)


def vectors_store(answers: Iterable[ChunkVectors]) -> int:
    """Store vectors in the spaces their models belong to, replacing one already there: one
    INSERT for all of them. A chunk deleted meanwhile (its source re-indexed by another drain)
    is skipped. Returns how many vectors were stored."""
    answers = [a for a in answers if a.chunks]
    if not answers:
        return 0
    spaces = [space_memo(model=a.model, dimension=a.dimension, provider=a.provider) for a in answers]
    stored = _upsert(answers, spaces)
    if stored < sum(len(a.chunks) for a in answers):
        # Fewer rows than vectors: a chunk went away, or a memoised space did (one more query,
        # only then): resolve the vanished spaces again and store their rows.
        alive = set(EmbeddingSpace.objects.filter(pk__in={s.pk for s in spaces}).values_list("pk", flat=True))
        again = [i for i, space in enumerate(spaces) if space.pk not in alive]
        for i in again:
            space_forget(spaces[i])
        if again:
            answers = [answers[i] for i in again]
            spaces = [space_memo(model=a.model, dimension=a.dimension, provider=a.provider) for a in answers]
            stored += _upsert(answers, spaces)
    return stored


# The joins make a row whose chunk or space is gone write nothing (instead of failing the whole
# INSERT on a foreign key); the space must also still be the same model (its id came from this
# process's memo).
# The vectors travel as one string, split by Postgres: passed as a text[] of a few KB per vector,
# psycopg's client-side binding built and quoted the array literal element by element in Python
# (a few percent of a pool child's CPU under load); one str is escaped in C. A vector's text form
# ("[0.1,-2e-05,...]") never holds the separator.
_VECTOR_SEPARATOR = ";"
_UPSERT = """
    INSERT INTO knowledge_chunkembedding (chunk_id, space_id, vector, created_at)
    SELECT v.chunk_id, v.space_id, v.vector::vector, now()
    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], {vectors}) AS v(chunk_id, space_id, model, vector)
    JOIN knowledge_chunk c ON c.id = v.chunk_id
    JOIN knowledge_embeddingspace s ON s.id = v.space_id AND s.model = v.model
    ON CONFLICT (chunk_id, space_id) DO UPDATE SET vector = EXCLUDED.vector
"""
_UPSERT_JOINED = _UPSERT.format(vectors="string_to_array(%s::text, ';')")
_UPSERT_ARRAY = _UPSERT.format(vectors="%s::text[]")  # a vector missing or holding the separator


def _vector_text(vector: list[float]) -> str:
    """A vector's text form for pgvector, with each element rounded to single precision first
    and written with 9 significant digits: exactly the float4 that pgvector stores (9 digits
    give every float4 back), so the same stored value as VectorField's form (the shortest repr
    of the double, which pgvector rounds to float4 itself) at half the CPU. Writing out ~17
    digits per element was most of storing a drain's vectors (py-spy). Anything that is not a
    number fails here, as in VectorField."""
    return "[" + ",".join(map("%.9g".__mod__, array("f", vector))) + "]"


# With server-side binding (apps/core/prepared.py) the vectors travel in binary instead: all of a
# batch's elements as one float4[] (`real[]`), each row taking its slice, which pgvector casts to
# a vector (`array_to_vector`: the same checks as its text input, NaN and infinity refused). The
# elements are the same float4 the text form gives (both round each double to single precision;
# tests/knowledge/test_vector_text.py compares them in Postgres), built with a handful of C-level
# copies (~19 us per 384-dimension vector against ~90 us for the text), and Postgres no longer
# parses ~5 KB of decimal text per vector. The statement is prepared once per connection.
_UPSERT_BINARY = """
    INSERT INTO knowledge_chunkembedding (chunk_id, space_id, vector, created_at)
    SELECT v.chunk_id, v.space_id, (%b::real[])[v.lo:v.hi]::vector, now()
    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::int[])
        AS v(chunk_id, space_id, model, lo, hi)
    JOIN knowledge_chunk c ON c.id = v.chunk_id
    JOIN knowledge_embeddingspace s ON s.id = v.space_id AND s.model = v.model
    ON CONFLICT (chunk_id, space_id) DO UPDATE SET vector = EXCLUDED.vector
"""
_FLOAT4_OID, _FLOAT4_ARRAY_OID = 700, 1021
_ARRAY_HEADER = struct.Struct(">iiIii")  # dimensions, has-nulls flag, element type, length, lower bound


class Float4Array(bytes):
    """A one-dimensional float4[] in Postgres's binary array format (see _float4_array)."""


@functools.cache
def _float4_array_dumper() -> type:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class _Dumper(Dumper):
        format = Format.BINARY
        oid = _FLOAT4_ARRAY_OID

        def dump(self, obj: bytes) -> bytes:
            return obj

    return _Dumper


def _float4_array(elements: array) -> Float4Array:
    """`elements` (an array("f"), consumed: byte-swapped in place) in the binary array format:
    the header, then each element as its length (4) and its big-endian float4."""
    n = len(elements)
    if sys.byteorder == "little":
        elements.byteswap()
    raw = elements.tobytes()
    out = bytearray(8 * n)
    out[3::8] = b"\x04" * n
    for k in range(4):
        out[4 + k :: 8] = raw[k::4]
    return Float4Array(_ARRAY_HEADER.pack(1, 0, _FLOAT4_OID, n, 1) + out)


def _upsert(answers: Sequence[ChunkVectors], spaces: Sequence[EmbeddingSpace]) -> int:
    # Binary needs server-side binding (off behind an old PgBouncer) and plain lists of numbers.
    binary = settings.AMAS_DATABASE_PREPARED_STATEMENTS and connection.vendor == "postgresql"
    if binary and all(isinstance(v, list) for a in answers for v in a.vectors):
        return _upsert_binary(answers, spaces)
    return _upsert_text(answers, spaces)


def _upsert_binary(answers: Sequence[ChunkVectors], spaces: Sequence[EmbeddingSpace]) -> int:
    from apps.core.prepared import prepared_cursor

    chunk_ids: list[int] = []
    space_ids: list[int] = []
    models: list[str] = []
    bounds: tuple[list[int], list[int]] = ([], [])
    elements = array("f")
    for answer, space in zip(answers, spaces, strict=True):
        for chunk, vector in zip(answer.chunks, answer.vectors, strict=True):
            chunk_ids.append(chunk.pk)
            space_ids.append(space.pk)
            models.append(space.model)
            bounds[0].append(len(elements) + 1)  # Postgres arrays count from 1, slices are inclusive
            elements.extend(vector)
            bounds[1].append(len(elements))
    with prepared_cursor() as cur:
        cur.cursor.adapters.register_dumper(Float4Array, _float4_array_dumper())
        cur.execute(_UPSERT_BINARY, [_float4_array(elements), chunk_ids, space_ids, models, *bounds])
        return max(cur.rowcount, 0)


def _upsert_text(answers: Sequence[ChunkVectors], spaces: Sequence[EmbeddingSpace]) -> int:
    chunk_ids: list[int] = []
    space_ids: list[int] = []
    models: list[str] = []
    vectors: list[str | None] = []
    field = ChunkEmbedding._meta.get_field("vector")
    for answer, space in zip(answers, spaces, strict=True):
        for chunk, vector in zip(answer.chunks, answer.vectors, strict=True):
            chunk_ids.append(chunk.pk)
            space_ids.append(space.pk)
            models.append(space.model)
            vectors.append(_vector_text(vector) if isinstance(vector, list) else field.get_prep_value(vector))
    texts = [v for v in vectors if v is not None and _VECTOR_SEPARATOR not in v]
    values: str | list[str | None]
    if len(texts) == len(vectors):
        sql, values = _UPSERT_JOINED, _VECTOR_SEPARATOR.join(texts)
    else:
        sql, values = _UPSERT_ARRAY, vectors
    with connection.cursor() as cur:
        cur.execute(sql, [chunk_ids, space_ids, models, values])
        return max(cur.rowcount, 0)


def chunks_embed(chunks: Sequence[Chunk], *, classification: str, task: Task | None = None) -> int:
    """Embed chunks (one router call per AMAS_EMBED_BATCH_SIZE) and store their vectors in
    whatever space the router answered with (replacing a vector already there). A router error
    raises, after storing what earlier calls answered. Returns how many were stored."""
    from apps.core.exceptions import ApplicationError

    answers: list[ChunkVectors] = []
    try:
        for answer in chunks_vectors(chunks, classification=classification, task=task):
            answers.append(answer)
    except ApplicationError:
        vectors_store(answers)
        raise
    return vectors_store(answers)
