"""Each embedding space's HNSW index moves to its vectors as halfvec (cosine), which measured
better than the binary-quantised index of 0004 (bench/search.py, docs/benchmarks.md): the new
index is built next to the old one (either 0004's bit index or the original full-vector one),
then the old ones are dropped. Existing rows are kept; nothing is re-embedded.

Non-atomic so that both steps run CONCURRENTLY: searches and indexing go on while a large space's
index builds. The build gets a larger maintenance_work_mem for this session only, so that the
graph of a large space fits in memory (pgvector builds much faster while it does)."""

from django.db import migrations

BUILD_MEMORY = "1GB"


def _halfvec_index(pk: int, dim: int) -> str:
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS knowledge_embedding_hv_{pk} ON knowledge_chunkembedding "
        f"USING hnsw ((vector::halfvec({dim})) halfvec_cosine_ops) WHERE space_id = {pk}"
    )


def _bits_index(pk: int, dim: int) -> str:
    cast = f"halfvec({dim})" if dim > 2000 else f"vector({dim})"
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS knowledge_embedding_bq_{pk} ON knowledge_chunkembedding "
        f"USING hnsw ((binary_quantize((vector)::{cast})::bit({dim})) bit_hamming_ops) WHERE space_id = {pk}"
    )


def _switch(apps, schema_editor, build, drop: tuple[str, ...]) -> None:
    spaces = apps.get_model("knowledge", "EmbeddingSpace").objects.all()
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT set_config('maintenance_work_mem', %s, false)", [BUILD_MEMORY])
        for space in spaces:
            pk, dim = int(space.pk), int(space.dimension)
            cur.execute(build(pk, dim))
            for prefix in drop:
                cur.execute(f"DROP INDEX CONCURRENTLY IF EXISTS knowledge_embedding_{prefix}_{pk}")
        cur.execute("RESET maintenance_work_mem")


def forwards(apps, schema_editor):
    _switch(apps, schema_editor, _halfvec_index, ("bq", "hnsw"))


def backwards(apps, schema_editor):
    _switch(apps, schema_editor, _bits_index, ("hv",))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("knowledge", "0004_embedding_bit_indexes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
