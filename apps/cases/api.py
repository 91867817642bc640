"""REST API for investigations under /api/v1/investigations, and tags and comments on tasks.
Operations are thin: check scope, call one service or selector. Permissions as for tasks:
viewers read (tasks:read), analysts and admins write (tasks:write); organisation-scoped (another
organisation's investigation is 404)."""

from http import HTTPStatus
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Body, Path, Query, Router
from ninja.pagination import paginate

from apps.cases import misp, playbooks, selectors, services, stix
from apps.cases.schemas import (
    AddTaskIn,
    CaseEntityOut,
    CommentIn,
    CommentOut,
    FollowUpIn,
    InvestigationFilterIn,
    InvestigationIn,
    InvestigationOut,
    InvestigationPatch,
    PlaybookIn,
    PlaybookOut,
    PlaybookPatch,
    PlaybookRunIn,
    StixImportOut,
    TagsIn,
    TagsOut,
    TimelineEntryOut,
)
from apps.core.api_errors import errors
from apps.core.api_pagination import BoundedPagination
from apps.tasks.schemas import TaskIn, TaskOut
from apps.users.permissions import require_scope

router = Router(tags=["investigations"])


class CasePagination(BoundedPagination):
    pass


def _investigation(request: HttpRequest, investigation_id: UUID, scope: str = "tasks:read") -> Any:
    user = require_scope(request, scope)
    return user, selectors.investigation_get(user=user, investigation_id=investigation_id)


@router.get(
    "/investigations",
    response={HTTPStatus.OK: list[InvestigationOut], **errors(422)},
    url_name="list_investigations",
)
@paginate(CasePagination)
def list_investigations(request: HttpRequest, filters: Query[InvestigationFilterIn]):
    user = require_scope(request, "tasks:read")
    return selectors.investigation_list(
        user=user, filters=selectors.InvestigationFilters(**filters.model_dump())
    )


@router.post(
    "/investigations",
    response={HTTPStatus.CREATED: InvestigationOut, **errors(body=True)},
    url_name="create_investigation",
)
def create_investigation(request: HttpRequest, payload: InvestigationIn):
    user = require_scope(request, "tasks:write")
    investigation = services.investigation_create(
        user=user,
        title=payload.title,
        description=payload.description,
        classification=payload.classification,
        tags=payload.tags,
        assignee_ids=payload.assignees,
    )
    return HTTPStatus.CREATED, selectors.investigation_get(user=user, investigation_id=investigation.pk)


@router.get(
    "/investigations/{investigation_id}",
    response={HTTPStatus.OK: InvestigationOut, **errors(404)},
    url_name="get_investigation",
)
def get_investigation(request: HttpRequest, investigation_id: UUID):
    return _investigation(request, investigation_id)[1]


@router.patch(
    "/investigations/{investigation_id}",
    response={HTTPStatus.OK: InvestigationOut, **errors(404, body=True)},
    url_name="update_investigation",
)
def update_investigation(request: HttpRequest, investigation_id: UUID, payload: InvestigationPatch):
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    fields = payload.model_dump(exclude_unset=True)
    if "assignees" in fields:
        fields["assignee_ids"] = fields.pop("assignees")
    services.investigation_update(investigation=investigation, by=user, **fields)
    return selectors.investigation_get(user=user, investigation_id=investigation.pk)


@router.get(
    "/investigations/{investigation_id}/tasks",
    response={HTTPStatus.OK: list[TaskOut], **errors(404)},
    url_name="list_investigation_tasks",
)
@paginate(CasePagination)
def list_investigation_tasks(request: HttpRequest, investigation_id: UUID):
    investigation = _investigation(request, investigation_id)[1]
    return selectors.investigation_tasks(investigation=investigation)


@router.post(
    "/investigations/{investigation_id}/tasks",
    response={HTTPStatus.OK: TaskOut, **errors(404, 409, body=True)},
    url_name="add_investigation_task",
)
def add_investigation_task(request: HttpRequest, investigation_id: UUID, payload: AddTaskIn):
    """Add an existing task of the organisation (raises the investigation's TLP to the task's)."""
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    task = selectors.task_get(user=user, task_id=payload.task_id)
    services.investigation_add_task(investigation=investigation, task=task, by=user)
    return task


@router.post(
    "/investigations/{investigation_id}/tasks/new",
    response={HTTPStatus.CREATED: TaskOut, **errors(404, body=True)},
    url_name="create_investigation_task",
)
def create_investigation_task(request: HttpRequest, investigation_id: UUID, payload: TaskIn):
    """Submit a task inside the investigation (same body as POST /tasks, JSON only)."""
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    task = services.investigation_task_create(
        investigation=investigation,
        by=user,
        title=payload.title,
        task_type=payload.task_type,
        target=payload.target,
        description=payload.description,
        parameters=payload.parameters,
        agents=payload.agents,
        priority=payload.priority,
        classification=payload.classification,
        schedule=payload.schedule.model_dump(exclude_none=True) if payload.schedule else None,
    )
    return HTTPStatus.CREATED, task


@router.post(
    "/investigations/{investigation_id}/follow-ups",
    response={HTTPStatus.CREATED: TaskOut, **errors(404, body=True)},
    url_name="create_investigation_follow_up",
)
def create_investigation_follow_up(request: HttpRequest, investigation_id: UUID, payload: FollowUpIn):
    """ "Investigate this domain": a task on an entity of a member task's result, keeping that task
    and entity as its origin."""
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    origin = selectors.task_get(user=user, task_id=payload.origin_task_id)
    task = services.investigation_follow_up(
        investigation=investigation,
        by=user,
        origin_task=origin,
        kind=payload.kind,
        value=payload.value,
        task_type=payload.task_type,
        agents=payload.agents,
    )
    return HTTPStatus.CREATED, task


@router.get(
    "/investigations/{investigation_id}/comments",
    response={HTTPStatus.OK: list[CommentOut], **errors(404)},
    url_name="list_investigation_comments",
)
@paginate(CasePagination)
def list_investigation_comments(request: HttpRequest, investigation_id: UUID):
    investigation = _investigation(request, investigation_id)[1]
    return selectors.investigation_comments(investigation=investigation)


@router.post(
    "/investigations/{investigation_id}/comments",
    response={HTTPStatus.CREATED: CommentOut, **errors(404, body=True)},
    url_name="create_investigation_comment",
)
def create_investigation_comment(request: HttpRequest, investigation_id: UUID, payload: CommentIn):
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    return HTTPStatus.CREATED, services.comment_create(
        by=user, body=payload.body, investigation=investigation
    )


@router.put(
    "/investigations/{investigation_id}/tags",
    response={HTTPStatus.OK: TagsOut, **errors(404, body=True)},
    url_name="set_investigation_tags",
)
def set_investigation_tags(request: HttpRequest, investigation_id: UUID, payload: TagsIn):
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    investigation = services.investigation_update(investigation=investigation, by=user, tags=payload.tags)
    return {"tags": investigation.tags}


@router.get(
    "/investigations/{investigation_id}/timeline",
    response={HTTPStatus.OK: list[TimelineEntryOut], **errors(404)},
    url_name="investigation_timeline",
)
def investigation_timeline(request: HttpRequest, investigation_id: UUID):
    """Analysts' actions and the events of its tasks, oldest first (the newest 1000)."""
    investigation = _investigation(request, investigation_id)[1]
    return selectors.investigation_timeline(investigation=investigation)


@router.get(
    "/investigations/{investigation_id}/entities",
    response={HTTPStatus.OK: list[CaseEntityOut], **errors(404)},
    url_name="list_investigation_entities",
)
def list_investigation_entities(request: HttpRequest, investigation_id: UUID):
    """Entities its tasks found (provenance "task") and observables imported into it ("imported")."""
    investigation = _investigation(request, investigation_id)[1]
    return selectors.investigation_entities(investigation=investigation)


@router.get(
    "/investigations/{investigation_id}/stix",
    response={HTTPStatus.OK: dict[str, Any], **errors(404)},
    url_name="export_investigation_stix",
)
def export_investigation_stix(request: HttpRequest, investigation_id: UUID):
    """The investigation as a STIX 2.1 bundle."""
    user, investigation = _investigation(request, investigation_id)
    return stix.stix_export_investigation(user=user, investigation=investigation)


@router.get(
    "/investigations/{investigation_id}/misp",
    response={HTTPStatus.OK: dict[str, Any], **errors(404)},
    url_name="export_investigation_misp",
)
def export_investigation_misp(request: HttpRequest, investigation_id: UUID):
    """The investigation as a MISP event (JSON, as MISP's /events/add takes it)."""
    investigation = _investigation(request, investigation_id)[1]
    return misp.misp_export_investigation(investigation=investigation)


@router.post(
    "/investigations/{investigation_id}/stix",
    response={HTTPStatus.OK: StixImportOut, **errors(404, body=True)},
    url_name="import_investigation_stix",
)
def import_investigation_stix(
    request: HttpRequest, investigation_id: UUID, bundle: dict[str, Any] = Body(...)
):
    """Import a STIX 2.1 bundle: its observables become entities with provenance "imported". A bad
    bundle is a 422 naming the object (index, type, id) and the field."""
    user, investigation = _investigation(request, investigation_id, "tasks:write")
    counts = stix.stix_import(investigation=investigation, by=user, bundle=bundle)
    return {**counts, "entities": selectors.investigation_entities(investigation=investigation)}


@router.get(
    "/tasks/{task_id}/stix",
    response={HTTPStatus.OK: dict[str, Any], **errors(404)},
    url_name="export_task_stix",
)
def export_task_stix(request: HttpRequest, task_id: UUID):
    """The task as a STIX 2.1 bundle."""
    user = require_scope(request, "tasks:read")
    return stix.stix_export_task(user=user, task=selectors.task_get(user=user, task_id=task_id))


@router.get(
    "/tasks/{task_id}/comments",
    response={HTTPStatus.OK: list[CommentOut], **errors(404)},
    url_name="list_task_comments",
)
@paginate(CasePagination)
def list_task_comments(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:read")
    return selectors.task_comments(task=selectors.task_get(user=user, task_id=task_id))


@router.post(
    "/tasks/{task_id}/comments",
    response={HTTPStatus.CREATED: CommentOut, **errors(404, body=True)},
    url_name="create_task_comment",
)
def create_task_comment(request: HttpRequest, task_id: UUID, payload: CommentIn):
    user = require_scope(request, "tasks:write")
    task = selectors.task_get(user=user, task_id=task_id)
    return HTTPStatus.CREATED, services.comment_create(by=user, body=payload.body, task=task)


@router.get(
    "/tasks/{task_id}/tags",
    response={HTTPStatus.OK: TagsOut, **errors(404)},
    url_name="get_task_tags",
)
def get_task_tags(request: HttpRequest, task_id: UUID):
    user = require_scope(request, "tasks:read")
    return {"tags": selectors.task_tags(task=selectors.task_get(user=user, task_id=task_id))}


@router.put(
    "/tasks/{task_id}/tags",
    response={HTTPStatus.OK: TagsOut, **errors(404, body=True)},
    url_name="set_task_tags",
)
def set_task_tags(request: HttpRequest, task_id: UUID, payload: TagsIn):
    user = require_scope(request, "tasks:write")
    task = selectors.task_get(user=user, task_id=task_id)
    return {"tags": services.task_tags_set(task=task, by=user, tags=payload.tags)}


@router.get(
    "/tagged/tasks",
    response={HTTPStatus.OK: list[TaskOut], **errors(422)},
    url_name="list_tagged_tasks",
)
@paginate(CasePagination)
def list_tagged_tasks(request: HttpRequest, tag: str = Query(..., min_length=1, max_length=64)):
    """Tasks of the organisation that carry `tag`."""
    user = require_scope(request, "tasks:read")
    return selectors.tasks_tagged(user=user, tag=tag).order_by("-created_at", "-id")


# --------------------------------------------------------------------------- playbooks

PLAYBOOK_NAME = Path(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@router.get(
    "/playbooks", response={HTTPStatus.OK: list[PlaybookOut], **errors(422)}, url_name="list_playbooks"
)
@paginate(CasePagination)
def list_playbooks(request: HttpRequest):
    user = require_scope(request, "tasks:read")
    return playbooks.playbook_list(user=user)


@router.post(
    "/playbooks",
    response={HTTPStatus.CREATED: PlaybookOut, **errors(409, body=True)},
    url_name="create_playbook",
)
def create_playbook(request: HttpRequest, payload: PlaybookIn):
    """Organisation admins only."""
    user = require_scope(request, "admin")
    fields = payload.model_dump()
    return HTTPStatus.CREATED, playbooks.playbook_create(user=user, **fields)


@router.get(
    "/playbooks/{name}", response={HTTPStatus.OK: PlaybookOut, **errors(404)}, url_name="get_playbook"
)
def get_playbook(request: HttpRequest, name: str = PLAYBOOK_NAME):
    user = require_scope(request, "tasks:read")
    return playbooks.playbook_get(user=user, name=name)


@router.patch(
    "/playbooks/{name}",
    response={HTTPStatus.OK: PlaybookOut, **errors(404, body=True)},
    url_name="update_playbook",
)
def update_playbook(request: HttpRequest, payload: PlaybookPatch, name: str = PLAYBOOK_NAME):
    """A change is a new version; organisation admins only."""
    user = require_scope(request, "admin")
    playbook = playbooks.playbook_get(user=user, name=name)
    return playbooks.playbook_update(playbook=playbook, by=user, **payload.model_dump(exclude_unset=True))


@router.post(
    "/playbooks/{name}/run",
    response={HTTPStatus.CREATED: TaskOut, **errors(404, 409, body=True)},
    url_name="run_playbook",
)
def run_playbook(request: HttpRequest, payload: PlaybookRunIn, name: str = PLAYBOOK_NAME):
    """Submit a task with the playbook's agents and parameters, optionally inside an investigation."""
    user = require_scope(request, "tasks:write")
    playbook = playbooks.playbook_get(user=user, name=name)
    investigation = None
    if payload.investigation_id is not None:
        investigation = selectors.investigation_get(user=user, investigation_id=payload.investigation_id)
    task = playbooks.playbook_run(
        playbook=playbook,
        by=user,
        target=payload.target,
        title=payload.title,
        classification=payload.classification,
        priority=payload.priority,
        investigation=investigation,
    )
    return HTTPStatus.CREATED, task
