"""API schemas of the knowledge app (search, similar tasks, graph)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from apps.core.api_types import ApiDatetime


class SearchFilterIn(Schema):
    q: str = Field(..., description="What to look for: words, phrases in quotes, -exclusions.")
    k: int = Field(10, ge=1, le=100, description="How many passages to return.")
    task_type: str | None = None
    agent: str | None = None
    date_from: ApiDatetime | None = None
    date_to: ApiDatetime | None = None
    classification: str | None = Field(
        None, description="One TLP level, or several separated by commas (clear,green)."
    )


class SearchHitOut(Schema):
    chunk_id: int
    score: float = Field(..., description="Reciprocal-rank-fusion score.")
    vector_rank: int | None = Field(None, description="Rank by vector similarity, if found that way.")
    text_rank: int | None = Field(None, description="Rank by full-text match, if found that way.")
    source_kind: str
    passage: str
    highlight: str = Field(..., description="The passage as HTML (escaped) with <mark> around matches.")
    task_id: str
    task_title: str
    task_type: str
    classification: str
    result_id: str | None
    artefact_id: str | None
    agent: str
    created_at: datetime
    task_url: str
    result_url: str | None
    api_url: str


class SearchOut(Schema):
    query: str
    space: str | None = Field(None, description="The embedding model the vector ranking used.")
    notes: list[str]
    results: list[SearchHitOut]


class SimilarTaskOut(Schema):
    id: str
    title: str
    task_type: str
    status: str
    created_at: datetime
    similarity: float
    url: str


class EntityOut(Schema):
    id: str
    kind: str
    value: str
    normalized: str
    attributes: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int
    depth: int | None = None


class ProvenanceOut(Schema):
    task_id: str
    result_id: str | None
    agent: str
    model: str
    first_seen: datetime
    last_seen: datetime
    count: int


class RelationOut(Schema):
    source: str
    type: str
    target: str
    attributes: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int
    provenance: list[ProvenanceOut]


class SubgraphOut(Schema):
    nodes: list[EntityOut]
    edges: list[RelationOut]
    truncated: bool


class EntityRefIn(Schema):
    kind: str
    value: str


class MergeIn(Schema):
    keep: EntityRefIn
    duplicate: EntityRefIn


class MergeOut(Schema):
    merged_into: str


class ArtefactOut(Schema):
    id: str
    name: str = Field(..., description="The uploaded (or agent-given) file name; metadata only.")
    size: int
    sha256: str
    detected_type: str
    produced_by_agent: str = Field(..., description="Empty for files a user attached.")
    created_at: datetime
    download_url: str = Field(..., description="GET with the same credentials to fetch the bytes.")
