"""REST API for tasks under /api/v1/. Operations are thin: parse, check scope, call a service or
selector, shape the answer. Domain errors become HTTP errors in amas/api.py."""

from http import HTTPStatus
from typing import Annotated
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from apps.core.api_errors import errors
from apps.core.api_pagination import BoundedPagination
from apps.core.api_parsing import PayloadBody
from apps.core.api_types import ApiDatetime
from apps.core.exceptions import ValidationFailed
from apps.tasks import selectors, services
from apps.tasks.schemas import EventOut, ResultOut, StatsRowOut, TaskDetailOut, TaskFilterIn, TaskIn, TaskOut
from apps.users.permissions import require_scope

router = Router(tags=["tasks"])


class TaskPagination(BoundedPagination):
    pass


@router.post(
    "/tasks", response={HTTPStatus.CREATED: TaskDetailOut, **errors(body=True)}, url_name="create_task"
)
def create_task(request: HttpRequest, payload: Annotated[TaskIn, PayloadBody(...)]):
    """Submit a task. JSON body, or multipart/form-data with the JSON in a `payload` field and
    attachments in `files` (streamed; up to AMAS_MAX_FILE_BYTES each, AMAS_MAX_TOTAL_BYTES in all)."""
    user = require_scope(request, "tasks:write")
    files = request.FILES.getlist("files") if request.FILES else None
    for upload in files or ():
        if not upload.size:
            raise ValidationFailed(
                f"File {upload.name!r} is empty (0 bytes): there is nothing to analyse.",
                extra={"field": "files"},
            )
    task = services.task_create(
        user=user,
        title=payload.title,
        task_type=payload.task_type,
        target=payload.target,
        description=payload.description,
        parameters=payload.parameters,
        agents=payload.agents,
        priority=payload.priority,
        classification=payload.classification,
        files=files,
        schedule=payload.schedule.model_dump(exclude_none=True) if payload.schedule else None,
    )
    return Status(HTTPStatus.CREATED, TaskDetailOut.of(task))


@router.get("/tasks", response={HTTPStatus.OK: list[TaskOut], **errors(422)}, url_name="list_tasks")
@paginate(TaskPagination)
def list_tasks(request: HttpRequest, filters: Query[TaskFilterIn]):
    user = require_scope(request, "tasks:read")
    return selectors.task_list(user=user, filters=selectors.TaskFilters(**filters.model_dump()))


@router.get(
    "/tasks/{task_id}", response={HTTPStatus.OK: TaskDetailOut, **errors(404, 422)}, url_name="get_task"
)
def get_task(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:read")
    return TaskDetailOut.of(selectors.task_detail(user=user, task_id=task_id))


@router.get(
    "/tasks/{task_id}/events",
    response={HTTPStatus.OK: list[EventOut], **errors(404, 422)},
    url_name="list_task_events",
)
def list_task_events(request: HttpRequest, task_id: UUID, after: int = 0):
    user = require_scope(request, "tasks:read")
    return selectors.task_events(task=selectors.task_get(user=user, task_id=task_id), after_seq=after)


@router.get(
    "/tasks/{task_id}/results",
    response={HTTPStatus.OK: list[ResultOut], **errors(404, 422)},
    url_name="list_task_results",
)
def list_task_results(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:read")
    return selectors.task_results(task=selectors.task_get(user=user, task_id=task_id))


@router.get(
    "/tasks/{task_id}/runs",
    response={HTTPStatus.OK: list[TaskOut], **errors(404, 422)},
    url_name="list_task_runs",
)
@paginate(TaskPagination)
def list_task_runs(request: HttpRequest, task_id: UUID):
    """The runs (child tasks) of a recurring task."""
    user = require_scope(request, "tasks:read")
    parent = selectors.task_get(user=user, task_id=task_id)
    return selectors.task_list(user=user, filters=selectors.TaskFilters(parent=str(parent.id)))


@router.post(
    "/tasks/{task_id}/cancel",
    response={HTTPStatus.OK: TaskOut, **errors(404, 409, 422)},
    url_name="cancel_task",
)
def cancel_task(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:write")
    return services.task_cancel(task=selectors.task_get(user=user, task_id=task_id), by=user)


@router.post(
    "/tasks/{task_id}/retry",
    response={HTTPStatus.OK: TaskOut, **errors(404, 409, 422)},
    url_name="retry_task",
)
def retry_task(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:write")
    return services.task_retry(task=selectors.task_get(user=user, task_id=task_id), by=user)


@router.get("/stats/tasks", response={HTTPStatus.OK: list[StatsRowOut], **errors(422)}, url_name="task_stats")
def task_stats(request: HttpRequest, since: ApiDatetime | None = None):
    """Counts and mean duration per hour, task type and status (refreshed by beat every minute)."""
    user = require_scope(request, "tasks:read")
    return selectors.task_stats(user=user, since=since)
