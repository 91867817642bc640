"""Switching the embedding model loses nothing: vectors of the old model stay searchable until the
new model's space is filled by `manage.py reembed`, which `--prune` then cleans up."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from apps.knowledge.indexing import result_index_and_embed
from apps.knowledge.models import Chunk, ChunkEmbedding, EmbeddingSpace
from apps.knowledge.search import search
from tests.providers.fakes import FakeVendor
from tests.tasks.factories import make_result, make_task

pytestmark = pytest.mark.django_db


def test_switching_models_keeps_old_vectors_until_reembedded(analyst):
    task = make_task(analyst.organization, created_by=analyst, title="Botnet")
    result = make_result(task, summary="Mirai variant scanning telnet on port 23")
    result_index_and_embed(result_id=result.pk)
    old = EmbeddingSpace.objects.get()
    chunks = Chunk.objects.count()
    assert ChunkEmbedding.objects.filter(space=old).count() == chunks

    from apps.providers.models import Provider

    fake = FakeVendor(style="openai", embedding_models=("fake-embed-v2",), embedding_dim=8).start()
    try:
        Provider.objects.create(
            name="new-embeddings",
            kind="openai",
            base_url=fake.url,
            model="fake-model",
            embedding_model="fake-embed-v2",
            api_key=fake.api_key,
            enabled=True,
            priority=0,
            timeout=5,
            max_retries=0,
            allowed_classifications=["clear", "green", "amber", "red"],
            cost_per_1k_input=Decimal("0"),
            cost_per_1k_output=Decimal("0"),
        )
        # The router now embeds with the new model: its space is empty, full text still finds it.
        before = search(user=analyst, query="mirai telnet", k=5)
        assert before.space == "fake-embed-v2 (8)"
        assert before.hits and all(h.vector_rank is None for h in before.hits)
        assert ChunkEmbedding.objects.filter(space=old).count() == chunks  # nothing lost

        out = StringIO()
        call_command("reembed", stdout=out)
        new = EmbeddingSpace.objects.get(model="fake-embed-v2")
        assert new.dimension == 8
        assert ChunkEmbedding.objects.filter(space=new).count() == chunks
        assert ChunkEmbedding.objects.filter(space=old).count() == chunks
        after = search(user=analyst, query="mirai telnet", k=5)
        assert any(h.vector_rank == 1 for h in after.hits)

        again = StringIO()
        call_command("reembed", stdout=again)  # already done: skipped
        assert "Nothing to embed" in again.getvalue()

        call_command("reembed", "--prune", stdout=out)
        assert list(EmbeddingSpace.objects.values_list("model", flat=True)) == ["fake-embed-v2"]
        assert ChunkEmbedding.objects.count() == chunks
        assert "Pruned" in out.getvalue()
    finally:
        fake.stop()
