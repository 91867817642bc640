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
