"""The text form the index writes vectors in (apps/knowledge/embedding.py::_vector_text) stores
exactly what pgvector's own form (VectorField) stores: compared in Postgres, element by element."""

import random

import pytest
from django.db import connection

from apps.knowledge.embedding import _vector_text
from apps.knowledge.models import ChunkEmbedding

pytestmark = pytest.mark.django_db


def test_vectors_are_stored_as_pgvector_would_store_them():
    field = ChunkEmbedding._meta.get_field("vector")
    rng = random.Random(19)
    vectors = [[rng.gauss(0, 1) * scale for _ in range(384)] for scale in (1e-6, 1e-3, 0.05, 1.0, 1e3, 1e6)]
    vectors.append([0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 2**-126, 3.4e38])
    with connection.cursor() as cursor:
        for vector in vectors:
            ours, theirs = _vector_text(vector), field.get_prep_value(vector)
            assert len(ours) < len(theirs)
            cursor.execute(
                "SELECT %s::vector = %s::vector, (%s::vector)::real[] = (%s::vector)::real[]",
                [ours, theirs, ours, theirs],
            )
            assert cursor.fetchone() == (True, True)


@pytest.mark.parametrize("prepared", [True, False], ids=["binary", "text"])
def test_stored_vectors_equal_pgvectors_own_form(analyst, settings, prepared):
    """vectors_store writes vectors in binary (one float4[] sliced per row) when statements are
    prepared, as text otherwise: either way each stored vector is what pgvector makes of
    VectorField's form, in spaces of different dimensions written by one INSERT."""
    from django.utils import timezone

    from apps.knowledge.embedding import ChunkVectors, vectors_store
    from apps.knowledge.models import Chunk, SourceKind
    from apps.tasks.models import Task

    settings.AMAS_DATABASE_PREPARED_STATEMENTS = prepared
    task = Task.objects.create(
        organization=analyst.organization, created_by=analyst, task_type="custom", title="vectors"
    )
    chunks = [
        Chunk.objects.create(
            organization=analyst.organization,
            task=task,
            source_kind=SourceKind.TASK,
            source_key=f"task:{task.pk}",
            ordinal=i,
            text=f"passage {i}",
            content_hash=str(i),
            source_created_at=timezone.now(),
        )
        for i in range(4)
    ]
    rng = random.Random(7)
    # Within half precision's range: each space's HNSW index holds its vectors as halfvec.
    wide = [[rng.gauss(0, 1) * scale for _ in range(384)] for scale in (1e-3, 1.0, 1e3)]
    narrow = [[0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 2**-14, 6.5e4]]
    stored = vectors_store(
        [
            ChunkVectors(chunks[:3], "test-wide", 384, "test", wide),
            ChunkVectors(chunks[3:], "test-narrow", 8, "test", narrow),
        ]
    )
    assert stored == 4
    field = ChunkEmbedding._meta.get_field("vector")
    with connection.cursor() as cursor:
        for chunk, vector in zip(chunks, wide + narrow, strict=True):
            theirs = field.get_prep_value(vector)
            cursor.execute(
                "SELECT vector = %s::vector, vector::real[] = (%s::vector)::real[], vector_dims(vector)"
                " FROM knowledge_chunkembedding WHERE chunk_id = %s",
                [theirs, theirs, chunk.pk],
            )
            assert cursor.fetchone() == (True, True, len(vector))


@pytest.mark.parametrize("prepared", [True, False], ids=["binary", "text"])
def test_a_vector_pgvector_refuses_fails_the_store(analyst, settings, prepared):
    from django.db import DataError, transaction
    from django.utils import timezone

    from apps.knowledge.embedding import ChunkVectors, vectors_store
    from apps.knowledge.models import Chunk, SourceKind
    from apps.tasks.models import Task

    settings.AMAS_DATABASE_PREPARED_STATEMENTS = prepared
    task = Task.objects.create(
        organization=analyst.organization, created_by=analyst, task_type="custom", title="nan"
    )
    chunk = Chunk.objects.create(
        organization=analyst.organization,
        task=task,
        source_kind=SourceKind.TASK,
        source_key=f"task:{task.pk}",
        ordinal=0,
        text="passage",
        content_hash="0",
        source_created_at=timezone.now(),
    )
    with pytest.raises(DataError), transaction.atomic():
        vectors_store([ChunkVectors([chunk], "test-nan", 3, "test", [[0.1, float("nan"), 0.2]])])
    assert not ChunkEmbedding.objects.filter(chunk=chunk).exists()
