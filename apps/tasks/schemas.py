from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from celery.schedules import crontab
from ninja import Field, FilterSchema, Schema
from pydantic import AfterValidator, GetJsonSchemaHandler, StrictInt, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from apps.core.api_types import ApiDatetime
from apps.core.vocabulary import TLPLevel, task_types


def _known_task_type(value: str) -> str:
    if value not in task_types:
        raise ValueError(f"unknown task type {value!r}; use one of {', '.join(task_types.values())}")
    return value


class _TaskTypeEnum:
    """The OpenAPI enum of task types, read from the registry when the schema is generated (after
    every agent registered its types), not frozen at import."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["enum"] = task_types.values()
        return json_schema


# Validated against the task-type registry (apps.core.vocabulary), which agents extend.
TaskTypeLiteral = Annotated[str, AfterValidator(_known_task_type), _TaskTypeEnum()]
ClassificationLiteral = TLPLevel
StatusLiteral = Literal["pending", "queued", "running", "completed", "failed", "cancelled", "timed_out"]


MAX_EVERY_SECONDS = 366 * 24 * 3600  # a yearly run is the longest interval that means anything


class ScheduleIn(Schema):
    every_seconds: StrictInt | None = Field(None, ge=1, le=MAX_EVERY_SECONDS)
    crontab: str | None = Field(
        None, max_length=100, description="minute hour day-of-month month day-of-week"
    )

    @field_validator("crontab")
    @classmethod
    def _crontab_parses(cls, value: str | None) -> str | None:
        """Checked with the parser beat itself uses (celery.schedules.crontab): an expression it
        cannot read would be accepted here and then silently never run."""
        if value is None:
            return value
        parts = value.split()
        if len(parts) != 5:
            raise ValueError("needs five fields: minute hour day-of-month month day-of-week")
        minute, hour, day_of_month, month_of_year, day_of_week = parts
        try:
            crontab(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
            )
        except Exception as exc:  # celery raises ValueError or its parser's ParseException
            raise ValueError(f"not a crontab beat can run: {exc}") from None
        return value


class TaskIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    task_type: TaskTypeLiteral
    target: str = Field("", max_length=2048)
    description: str = Field("", max_length=20000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    agents: list[str] = Field(default_factory=list, max_length=20)
    priority: StrictInt = Field(5, ge=1, le=10)
    classification: ClassificationLiteral = "amber"
    schedule: ScheduleIn | None = None


class StepOut(Schema):
    id: int
    agent_type: str
    group_index: int
    is_aggregate: bool
    status: str
    progress: int
    message: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    error_message: str


class TaskOut(Schema):
    id: UUID
    title: str
    description: str
    task_type: str
    target: str
    parameters: dict[str, Any]
    requested_agents: list[str]
    priority: int
    classification: str
    status: str
    progress: int
    plan: dict[str, Any]
    summary: dict[str, Any]
    error_message: str
    attempt: int
    parent_id: UUID | None
    is_recurring: bool = Field(False, alias="is_recurring")
    created_by: str | None = Field(None, alias="created_by.email")
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_is_recurring(obj: Any) -> bool:
        return obj.schedule_id is not None


class TaskDetailOut(TaskOut):
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(obj: Any) -> list[Any]:
        steps = getattr(obj, "api_steps", None)  # loaded with the task by selectors.task_detail
        return steps if steps is not None else list(obj.steps.all())

    @classmethod
    def of(cls, task: Any) -> "TaskDetailOut":
        """The answer for a task whose steps ride on `api_steps` (selectors.task_detail,
        services.task_create), built from its fields without validation: they are the task
        row's own typed values, and validating them field by field through ninja's getter was
        ~0.3 ms of a GET /api/v1/tasks/{id} (issue 19). The same output as validating the task
        (tests/tasks/test_task_detail_out.py); ninja dumps a returned model without validating it
        again. A task without `api_steps` is validated as usual (`model_validate`)."""
        steps = getattr(task, "api_steps", None)
        if steps is None:
            return cls.model_validate(task)
        values = {name: getattr(task, name) for name in _TASK_ATTRIBUTES}
        values["is_recurring"] = task.schedule_id is not None
        values["created_by"] = task.created_by.email if task.created_by_id is not None else None
        values["steps"] = [
            StepOut.model_construct(**{name: getattr(step, name) for name in _STEP_ATTRIBUTES})
            for step in steps
        ]
        return cls.model_construct(**values)


# TaskDetailOut.of: the fields read as attributes of the same name (the others are derived).
_TASK_ATTRIBUTES = tuple(
    name for name in TaskDetailOut.model_fields if name not in {"is_recurring", "created_by", "steps"}
)
_STEP_ATTRIBUTES = tuple(StepOut.model_fields)


class EventOut(Schema):
    seq: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


class ResultOut(Schema):
    id: UUID
    step_id: int
    agent: str
    status: str
    data: dict[str, Any]
    summary: str
    processing_time_ms: int
    error_message: str
    tokens_in: int
    tokens_out: int
    cost: float
    created_at: datetime


class StatsRowOut(Schema):
    hour: datetime
    task_type: str
    status: str
    count: int
    mean_duration_ms: float | None


class TaskFilterIn(FilterSchema):
    status: StatusLiteral | None = None
    task_type: TaskTypeLiteral | None = None
    priority_min: int | None = Field(None, ge=1, le=10)
    priority_max: int | None = Field(None, ge=1, le=10)
    created_after: ApiDatetime | None = None
    created_before: ApiDatetime | None = None
    q: str | None = Field(None, max_length=200)
    parent: UUID | None = None
    agent: str | None = Field(None, max_length=64)
    tag: str | None = Field(None, max_length=64, description="Tasks carrying this tag (case work).")
