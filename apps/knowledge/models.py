import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import VectorField


def artefact_storage_key(instance: "Artefact", filename: str) -> str:
    # Never trust the uploaded name for paths: the key is ours, the name is only metadata.
    return f"artefacts/{instance.organization_id}/{instance.task_id}/{instance.id.hex}"


class Artefact(models.Model):
    """A file attached to a task by a user, or written by an agent (reports, charts, models)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("users.Organization", on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="artefacts")
    step = models.ForeignKey(
        "tasks.TaskStep", on_delete=models.SET_NULL, null=True, blank=True, related_name="artefacts"
    )
    file = models.FileField(upload_to=artefact_storage_key, max_length=500)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    detected_type = models.CharField(max_length=100, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    produced_by_agent = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["task", "created_at"], name="artefact_task_created")]

    def __str__(self) -> str:
        return self.original_name


# --------------------------------------------------------------------------- semantic search
#
# Text is split into Chunks (one row per passage of a task description, a result or a text
# artefact). Vectors live beside them in ChunkEmbedding, one row per (chunk, embedding space): a
# space is one (model, dimension) pair the router produced. The vector column has no fixed
# dimension; each space gets its own partial HNSW index on `vector::vector(<dim>)` WHERE space_id
# = <id> (created when the space first appears, see apps/knowledge/embedding.py). Switching the
# embedding model therefore adds a space next to the old one: old vectors stay searchable until
# `manage.py reembed` has filled the new space, and `reembed --prune` drops the old one.


class SourceKind(models.TextChoices):
    TASK = "task", "Task description"
    RESULT = "result", "Agent result"
    ARTEFACT = "artefact", "Text artefact"


class Chunk(models.Model):
    # organization and task: no index of their own, chunk_org_created and chunk_task_kind start with them.
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    task = models.ForeignKey(
        "tasks.Task", on_delete=models.CASCADE, related_name="knowledge_chunks", db_index=False
    )
    result = models.ForeignKey(
        "tasks.Result", on_delete=models.CASCADE, null=True, blank=True, related_name="knowledge_chunks"
    )
    artefact = models.ForeignKey(
        Artefact, on_delete=models.CASCADE, null=True, blank=True, related_name="knowledge_chunks"
    )
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # "task:<uuid>", "result:<uuid>", "artefact:<uuid>": one source, many ordinals.
    source_key = models.CharField(max_length=64)
    ordinal = models.PositiveIntegerField()
    agent = models.CharField(max_length=64, blank=True)
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    source_created_at = models.DateTimeField(help_text="When the source was written (date filters).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source_key", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["source_key", "ordinal"], name="chunk_unique_source_ordinal"),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_vector"),
            models.Index(fields=["organization", "source_created_at"], name="chunk_org_created"),
            models.Index(fields=["task", "source_kind"], name="chunk_task_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.source_key}#{self.ordinal}"


class EmbeddingSpace(models.Model):
    """One embedding model at one dimension, as reported by the router."""

    model = models.CharField(max_length=200)
    dimension = models.PositiveIntegerField()
    provider = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "dimension"], name="embedding_space_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.dimension})"

    @property
    def index_name(self) -> str:  # HNSW over the vectors as halfvec (knowledge migration 0005)
        return f"knowledge_embedding_hv_{self.pk}"


class ChunkEmbedding(models.Model):
    # No index of their own: chunk_embedding_unique starts with chunk, chunk_embedding_space is space's.
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings", db_index=False)
    space = models.ForeignKey(
        EmbeddingSpace, on_delete=models.CASCADE, related_name="embeddings", db_index=False
    )
    vector = VectorField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk", "space"], name="chunk_embedding_unique"),
        ]
        indexes = [models.Index(fields=["space"], name="chunk_embedding_space")]

    def __str__(self) -> str:
        return f"{self.chunk_id} in {self.space_id}"


# --------------------------------------------------------------------------- knowledge graph
#
# The Postgres backend of the GraphStore port (apps/knowledge/graph/postgres.py). Entities are
# shared across organisations, unique on (kind, normalised value); what an organisation may see
# of them is decided by provenance: a Mention (an entity named by a task's result) or an Evidence
# row (a relation reported by a task's result) carries the organisation, task, result, agent and
# model. Attributes and timestamps live on provenance too, so an organisation never sees what
# another one reported. Ids of tasks/results are plain values, so the same records round-trip
# through Neo4j.


class GraphEntity(models.Model):
    kind = models.CharField(max_length=32)
    normalized = models.CharField(max_length=1024)
    value = models.CharField(max_length=1024, help_text="As first seen.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "normalized"], name="graph_entity_unique"),
        ]
        indexes = [
            models.Index(
                fields=["normalized"], name="graph_entity_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class GraphRelation(models.Model):
    source = models.ForeignKey(GraphEntity, on_delete=models.CASCADE, related_name="outgoing")
    type = models.CharField(max_length=64)
    target = models.ForeignKey(GraphEntity, on_delete=models.CASCADE, related_name="incoming")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "type", "target"], name="graph_relation_unique"),
        ]
        indexes = [models.Index(fields=["target"], name="graph_relation_target")]

    def __str__(self) -> str:
        return f"{self.source_id} -{self.type}-> {self.target_id}"


class GraphProvenance(models.Model):
    organization_id = models.BigIntegerField()
    task_id = models.UUIDField()
    result_id = models.UUIDField(null=True, blank=True)
    agent = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="The LLM that produced it, if any.")
    attributes = models.JSONField(default=dict, blank=True, help_text="As this result reported them.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class GraphMention(GraphProvenance):
    entity = models.ForeignKey(GraphEntity, on_delete=models.CASCADE, related_name="mentions")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "task_id", "result_id"], name="graph_mention_unique", nulls_distinct=False
            ),
        ]
        indexes = [
            models.Index(fields=["task_id"], name="graph_mention_task"),
            models.Index(fields=["organization_id", "entity"], name="graph_mention_org"),
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} in {self.task_id}"


class GraphEvidence(GraphProvenance):
    relation = models.ForeignKey(GraphRelation, on_delete=models.CASCADE, related_name="evidence")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["relation", "task_id", "result_id"],
                name="graph_evidence_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            models.Index(fields=["organization_id", "relation"], name="graph_evidence_org"),
            models.Index(fields=["task_id"], name="graph_evidence_task"),
        ]

    def __str__(self) -> str:
        return f"{self.relation_id} in {self.task_id}"


class PendingStore(models.Model):
    """An artefact committed in Postgres whose file is not in storage yet: its row is written in
    the artefact's own transaction and deleted once the staged file has been moved, so storage
    being unreachable at commit (S3 down) or a crash right after it loses no file. The staged
    file stays on `host`'s staging disk until a retry there succeeds (apps/knowledge/staging.py)."""

    artefact = models.OneToOneField(Artefact, on_delete=models.CASCADE, related_name="pending_store")
    key = models.CharField(max_length=500)
    staged_path = models.CharField(max_length=1000)
    host = models.CharField(max_length=255)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["host", "next_attempt_at"], name="pending_store_due")]

    def __str__(self) -> str:
        return f"{self.key} (attempt {self.attempts})"
