from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import StrictBool, StrictInt

from apps.cases.models import MAX_TAGS, TAG_MAX_CHARS
from apps.core.vocabulary import TLPLevel

InvestigationStatusLiteral = Literal["open", "in_progress", "closed"]
Tag = Field(max_length=TAG_MAX_CHARS)


class InvestigationIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=20000)
    classification: TLPLevel = "amber"
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    assignees: list[StrictInt] = Field(default_factory=list, max_length=50, description="User ids.")


class InvestigationPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20000)
    status: InvestigationStatusLiteral | None = None
    classification: TLPLevel | None = None
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)
    assignees: list[StrictInt] | None = Field(None, max_length=50)


class InvestigationFilterIn(Schema):
    status: InvestigationStatusLiteral | None = None
    tag: str | None = Field(None, max_length=TAG_MAX_CHARS)
    q: str | None = Field(None, max_length=200)
    assignee: int | None = Field(None, ge=1, le=2**63 - 1)


class AssigneeOut(Schema):
    id: int
    email: str


class InvestigationOut(Schema):
    id: UUID
    title: str
    description: str
    status: str
    classification: str
    tags: list[str]
    assignees: list[AssigneeOut]
    task_count: int = 0
    created_by: str | None = Field(None, alias="created_by.email")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_assignees(obj: Any) -> list[dict[str, Any]]:
        return [{"id": u.pk, "email": u.email} for u in obj.assignees.all()]


class AddTaskIn(Schema):
    task_id: UUID


class FollowUpIn(Schema):
    origin_task_id: UUID
    kind: str = Field(..., min_length=1, max_length=32, description="The entity's kind: domain, ip, hash ...")
    value: str = Field(..., min_length=1, max_length=1024)
    task_type: str = Field("investigation", max_length=32)
    agents: list[str] = Field(default_factory=list, max_length=20)


class CommentIn(Schema):
    body: str = Field(..., min_length=1, description="Up to 10000 characters; `@email` mentions a member.")


class CommentOut(Schema):
    id: UUID
    body: str
    author: str | None = Field(None, alias="author.email")
    mentions: list[str]
    created_at: datetime

    @staticmethod
    def resolve_mentions(obj: Any) -> list[str]:
        return [u.email for u in obj.mentions.all()]


class TagsIn(Schema):
    tags: list[str] = Field(..., max_length=MAX_TAGS)


class TagsOut(Schema):
    tags: list[str]


class TimelineEntryOut(Schema):
    at: datetime
    source: Literal["analyst", "task"]
    kind: str
    actor: str | None
    task_id: UUID | None
    payload: dict[str, Any]


class CaseEntityOut(Schema):
    kind: str
    value: str
    normalized: str
    provenance: str
    attributes: dict[str, Any]


class StixImportOut(Schema):
    imported: int
    skipped: int
    entities: list[CaseEntityOut]


PlaybookName = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PlaybookIn(Schema):
    name: str = PlaybookName
    description: str = Field("", max_length=2000)
    task_type: str = Field(..., min_length=1, max_length=32)
    agents: list[str] = Field(..., min_length=1, max_length=20)
    parameters: dict[str, Any] = Field(default_factory=dict)
    condition_task_types: list[str] = Field(default_factory=list, max_length=20)
    condition_target_kinds: list[str] = Field(default_factory=list, max_length=20)


class PlaybookPatch(Schema):
    description: str | None = Field(None, max_length=2000)
    task_type: str | None = Field(None, min_length=1, max_length=32)
    agents: list[str] | None = Field(None, min_length=1, max_length=20)
    parameters: dict[str, Any] | None = None
    condition_task_types: list[str] | None = Field(None, max_length=20)
    condition_target_kinds: list[str] | None = Field(None, max_length=20)
    active: StrictBool | None = None


class PlaybookOut(Schema):
    id: int
    name: str
    description: str
    task_type: str
    agents: list[str]
    parameters: dict[str, Any]
    condition_task_types: list[str]
    condition_target_kinds: list[str]
    version: int
    active: bool
    updated_at: datetime


class PlaybookRunIn(Schema):
    target: str = Field(..., min_length=1, max_length=2048)
    title: str = Field("", max_length=200)
    classification: TLPLevel = "amber"
    priority: StrictInt = Field(5, ge=1, le=10)
    investigation_id: UUID | None = None
