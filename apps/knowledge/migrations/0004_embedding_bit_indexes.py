"""Each embedding space's HNSW index moves from the full vectors to their binary quantisation
(`apps.knowledge.embedding.index_sql`): the new index is built next to the old one, then the old
one is dropped. Existing rows are kept; nothing is re-embedded.

Non-atomic so that both steps run CONCURRENTLY: searches and indexing go on while a large space's
index builds. The build gets a larger maintenance_work_mem for this session only, so that the
graph of a large space fits in memory (pgvector builds much faster while it does)."""

from django.db import migrations

BUILD_MEMORY = "1GB"


def _spaces(apps):
    return list(apps.get_model("knowledge", "EmbeddingSpace").objects.all())


def _cast(space) -> str:
    dim = int(space.dimension)
    return f"halfvec({dim})" if dim > 2000 else f"vector({dim})"


def _bits_index(space) -> str:
    bits = f"binary_quantize((vector)::{_cast(space)})::bit({int(space.dimension)})"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS knowledge_embedding_bq_{int(space.pk)} "
        f"ON knowledge_chunkembedding USING hnsw (({bits}) bit_hamming_ops) WHERE space_id = {int(space.pk)}"
    )


def _vector_index(space) -> str:
    cast = _cast(space)
    opclass = "halfvec_cosine_ops" if cast.startswith("halfvec") else "vector_cosine_ops"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS knowledge_embedding_hnsw_{int(space.pk)} "
        f"ON knowledge_chunkembedding USING hnsw ((vector::{cast}) {opclass}) "
        f"WHERE space_id = {int(space.pk)}"
    )


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT set_config('maintenance_work_mem', %s, false)", [BUILD_MEMORY])
        for space in _spaces(apps):
            cur.execute(_bits_index(space))
            cur.execute(f"DROP INDEX CONCURRENTLY IF EXISTS knowledge_embedding_hnsw_{int(space.pk)}")
        cur.execute("RESET maintenance_work_mem")


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT set_config('maintenance_work_mem', %s, false)", [BUILD_MEMORY])
        for space in _spaces(apps):
            cur.execute(_vector_index(space))
            cur.execute(f"DROP INDEX CONCURRENTLY IF EXISTS knowledge_embedding_bq_{int(space.pk)}")
        cur.execute("RESET maintenance_work_mem")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("knowledge", "0003_artefact_pending_store"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
