"""The task pages: the list (with bulk cancel and retry), the New task form with its plan
preview, and a task's page with its cancel and retry buttons."""

from __future__ import annotations

import uuid
from datetime import datetime
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.agents.planner import plan_for_task
from apps.agents.targets import parse_target
from apps.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.core.vocabulary import task_types
from apps.dashboard import context as pages
from apps.dashboard.forms import (
    AgentParamsForm,
    TaskFilterForm,
    TaskForm,
    agent_param_forms,
    agent_parameters,
    error_summary,
    mark_invalid,
    param_forms_valid,
)
from apps.dashboard.rendering import forbidden, requested_section, section_template
from apps.dashboard.views.cases import playbook_pick
from apps.tasks import page_selectors as board
from apps.tasks import selectors, services
from apps.tasks.models import Task
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest

PAGE_SIZE = 25
BULK_LIMIT = 100
BULK_ALL_LIMIT = 1000  # "all matching": one request, so bounded
LIST_SECTIONS = frozenset({"task-results"})
NEW_SECTIONS = frozenset({"task-form"})
DETAIL_SECTIONS = frozenset({pages.TASK_STATE, pages.TASK_RESULTS})


def _task_or_404(request: AuthenticatedRequest, task_id: uuid.UUID) -> Task:
    try:
        return board.task_for_detail(user=request.user, task_id=task_id)
    except NotFound:
        raise Http404("Task not found.") from None


@login_required
@require_GET
def task_list(request: AuthenticatedRequest) -> HttpResponse:
    form = TaskFilterForm(request.GET)
    filters = selectors.TaskFilters(**form.filters())
    qs = board.task_list_page(user=request.user, filters=filters).order_by(*form.ordering())
    page = Paginator(board.task_rows(qs), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    query.pop("shown", None)
    sort_query.pop("shown", None)
    # `shown`: when the reader first saw this list. Its live re-renders (socket reconnect, a new
    # task on the page) keep it, so "N new tasks since this list was shown" still counts from
    # there; each render's own time decides whether a new task is already on the page.
    shown, rendered = _shown_at(request), timezone.now()
    news_query = request.GET.copy()
    news_query.pop("shown", None)
    news_query["page"] = str(page.number)
    news_query["since"] = shown.isoformat()
    news_query["rendered"] = rendered.isoformat()
    refresh_query = request.GET.copy()
    refresh_query["shown"] = shown.isoformat()
    section = requested_section(request, LIST_SECTIONS)
    context = {
        "form": form,
        "page": page,
        # A task created elsewhere asks task_list_news whether it belongs on this page.
        "news_query": news_query.urlencode(),
        "refresh_url": f"{request.path}?{refresh_query.urlencode()}",
        # A re-render asks once more: an event that arrived while it was in flight was meant for
        # the element the swap removed.
        "news_recheck": section is not None,
        "bulk_all_limit": BULK_ALL_LIMIT,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "sort": form.cleaned_data.get("sort") or "-created",
    }
    return render(request, section_template("dashboard/tasks/list.html", section), context)


def _shown_at(request: AuthenticatedRequest) -> datetime:
    """The `shown` a live re-render carries (never later than now), else now."""
    now = timezone.now()
    try:
        shown = datetime.fromisoformat(request.GET.get("shown", ""))
    except ValueError:
        return now
    if timezone.is_naive(shown):
        shown = timezone.make_aware(shown)
    return min(shown, now)


def _time_param(request: AuthenticatedRequest, name: str, default: str = "") -> datetime | None:
    try:
        value = datetime.fromisoformat(request.GET.get(name) or default)
    except ValueError:
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@login_required
@require_GET
def task_list_news(request: AuthenticatedRequest) -> HttpResponse:
    """Asked by the task list when a task is created anywhere in the organisation: tasks that
    match the list's filters and were created since it was shown (`since`) either belong on the
    visible page and were created after it was rendered (`rendered`: the answer tells the list to
    re-render itself, which inserts them in their sorted place) or are not on it (a "N new tasks"
    notice linking to them, newest first). Nothing new off this page: 204, it stays as it is."""
    since = _time_param(request, "since")
    if since is None:
        return HttpResponse("since must be an ISO 8601 time (the list's render time).", status=400)
    rendered = _time_param(request, "rendered", since.isoformat())
    if rendered is None:
        return HttpResponse("rendered must be an ISO 8601 time (the page's render time).", status=400)
    form = TaskFilterForm(request.GET)
    filters = selectors.TaskFilters(**form.filters())
    qs = board.task_list_page(user=request.user, filters=filters)
    new = qs.filter(created_at__gt=since).count()
    if not new:
        return HttpResponse(status=HTTPStatus.NO_CONTENT)
    try:
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        number = 1
    start = (number - 1) * PAGE_SIZE
    on_page = qs.order_by(*form.ordering()).values_list("created_at", flat=True)[start : start + PAGE_SIZE]
    if any(created > rendered for created in on_page):
        response = HttpResponse("")
        response["HX-Trigger"] = "amas:task-list-refresh"
        return response
    new -= sum(created > since for created in on_page)  # already on the page the reader sees
    if not new:
        return HttpResponse(status=HTTPStatus.NO_CONTENT)
    query = request.GET.copy()
    for key in ("page", "since", "rendered", "sort"):
        query.pop(key, None)
    context = {"new": new, "newest_url": f"{reverse('task_list')}?{query.urlencode()}"}
    return render(request, "dashboard/tasks/list.html#task-news", context)


@login_required
@require_POST
def task_bulk(request: AuthenticatedRequest) -> HttpResponse:
    """Cancel or retry the selected tasks through the services; tasks whose state does not allow
    the action are skipped and counted."""
    user = request.user
    if not user.can_write:
        return forbidden(request, "Your role can read tasks but not change them.")
    action = request.POST.get("action")
    service = {"cancel": services.task_cancel, "retry": services.task_retry}.get(action or "")
    back = request.POST.get("next") or reverse("task_list")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("task_list")
    tasks: QuerySet[Task] | None
    if request.POST.get("all_matching"):
        # "Select all N matching": the list's filters, read again now, not the ids of one page.
        form = TaskFilterForm(QueryDict(request.POST.get("query", "")))
        filters = selectors.TaskFilters(**form.filters())
        tasks = board.task_list_page(user=user, filters=filters).order_by(*form.ordering())[:BULK_ALL_LIMIT]
    else:
        ids = []
        for raw in request.POST.getlist("ids")[:BULK_LIMIT]:
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                continue
        tasks = selectors.task_visible(user=user).filter(pk__in=ids) if ids else None
    if service is None or tasks is None:
        messages.error(request, "Select tasks and an action.")
        return redirect(back)
    done, skipped = 0, []
    for task in tasks:
        try:
            service(task=task, by=user)
            done += 1
        except (Conflict, PermissionDenied) as exc:
            skipped.append(f"{task.title}: {exc.message}")
    verb = {"cancel": "Cancelled", "retry": "Retried"}[action or ""]
    messages.success(request, f"{verb} {done} task{'s' if done != 1 else ''}.")
    if skipped:
        messages.warning(request, f"Skipped {len(skipped)}: " + "; ".join(skipped[:5]))
    return redirect(back)


def _service_error_to_form(
    exc: ApplicationError, form: TaskForm, param_forms: list[AgentParamsForm]
) -> str | None:
    """Put a task_create error next to the field it names; returns a message for the file input
    or None."""
    if exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:  # an upload over a limit
        return exc.message
    field = str(exc.extra.get("field") or "")
    if field.startswith("parameters."):
        _, agent_type, *rest = field.split(".")
        for pf in param_forms:
            if pf.agent.type == agent_type:
                name = rest[0] if rest and rest[0] in pf.fields else None
                pf.add_error(name, exc.message)
                return None
    target = form.field_for_service_error(field) or ("agents" if "agent" in exc.extra else None)
    if target == "agents" and form.cleaned_data.get("agent_mode") != "manual":
        target = None  # the agents list is hidden in automatic mode: say it at the top
    form.add_error(target, exc.message)
    return None


@login_required
@require_http_methods(["GET", "POST"])
def task_new(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    if not user.can_write:
        return forbidden(request, "Your role can read tasks but not create them.")
    status = HTTPStatus.OK
    file_error = None
    picked = playbook_pick(request)  # the playbook picker: ?playbook=NAME fills the form (views/cases.py)
    if request.method == "POST":
        form = TaskForm(request.POST)
        param_forms = agent_param_forms(request.POST)
        files = request.FILES.getlist("files")
        if form.is_valid() and param_forms_valid(param_forms):
            parameters = agent_parameters(param_forms)
            try:
                task = services.task_create(
                    user=user,
                    title=form.task_title(),
                    task_type=form.cleaned_data["task_type"],
                    target=form.cleaned_data["target"].strip(),
                    description=form.cleaned_data["description"],
                    parameters=parameters,
                    agents=form.chosen_agents(),
                    priority=form.cleaned_data["priority"],
                    classification=form.cleaned_data["classification"],
                    files=files or None,
                    schedule=form.schedule_spec(),
                )
            except PermissionDenied as exc:
                return forbidden(request, exc.message)
            except ApplicationError as exc:
                file_error = _service_error_to_form(exc, form, param_forms)
            else:
                url = reverse("task_detail", args=[task.pk])
                if request.htmx:
                    return HttpResponseClientRedirect(url)
                return redirect(url)
        status = HTTPStatus.UNPROCESSABLE_ENTITY
        if files and not file_error:
            file_error = "Choose the files again: a browser does not keep them after an error."
        mark_invalid(form)
        for pf in param_forms:
            mark_invalid(pf)
        errors = error_summary(form, param_forms, file_error)
    else:
        form = TaskForm(initial=picked.initial)
        param_forms = agent_param_forms()
        for pf in param_forms:
            pf.initial = picked.parameters.get(pf.agent.type, {})
        errors = []
        status = HTTPStatus.UNPROCESSABLE_ENTITY if picked.error else status
    context = {"form": form, "param_forms": param_forms, "file_error": file_error, "errors": errors}
    context.update(picked.context())
    section = requested_section(request, NEW_SECTIONS)
    return render(request, section_template("dashboard/tasks/new.html", section), context, status=status)


def _plan_view(plan: Any) -> dict[str, Any]:
    explanation = plan.explanation or {}
    return {
        "steps": plan.steps,
        "candidates": explanation.get("candidates", []),
        "weights": explanation.get("weights", {}),
        "explore": explanation.get("explore", False),
        "target_kinds": explanation.get("target_kinds", []),
    }


def _anything_chosen(request: AuthenticatedRequest, has_files: bool) -> bool:
    data = request.POST
    return bool(
        has_files
        or (data.get("target") or "").strip()
        or (data.get("description") or "").strip()
        or data.get("agent_mode") == "manual"
        or data.get("task_type", TaskForm.base_fields["task_type"].initial)
        != TaskForm.base_fields["task_type"].initial
    )


TARGET_WORDS = {
    "none": "no target",
    "text": "free text",
    "ip": "an IP address",
    "url": "a URL",
    "email": "an e-mail address",
    "hash": "a file hash",
    "cve": "a CVE",
    "domain": "a domain name",
}


def _plain_plan_error(message: str, form: TaskForm, has_files: bool) -> str:
    """The decision engine's 'No enabled agent takes <type> tasks on a <kind> target' in words
    an analyst uses, with what to do about it."""
    if not message.startswith("No enabled agent takes"):
        return message
    data = form.cleaned_data
    kind = "file" if has_files and not data["target"].strip() else parse_target(data["target"]).kind
    what = "attached files" if kind == "file" else TARGET_WORDS.get(kind, f"a {kind}")
    return (
        f"No agent can run a “{task_types.label(data['task_type'])}” task on {what} at "
        f"TLP:{data['classification'].upper()}. Try another task type, a different target, "
        "or choose the agents yourself."
    )


@login_required
@require_POST
def task_plan_preview(request: AuthenticatedRequest) -> HttpResponse:
    """The decision engine's plan for the form as filled in, before anything is saved."""
    user = request.user
    if not user.can_write:
        return forbidden(request, "Your role can read tasks but not create them.")
    form = TaskForm(request.POST)
    plan, error = None, None
    has_files = bool(request.POST.get("has_files") or request.FILES)
    if not _anything_chosen(request, has_files):
        pass  # a blank form: nothing to plan yet, and nothing wrong either
    elif form.is_valid():
        draft = Task(  # never saved: only planned
            organization_id=user.organization_id,  # type: ignore[misc]  # None only for org-less users
            created_by=user,
            title=form.task_title(),
            task_type=form.cleaned_data["task_type"],
            target=form.cleaned_data["target"].strip(),
            description=form.cleaned_data["description"],
            requested_agents=form.chosen_agents(),
            priority=form.cleaned_data["priority"],
            classification=form.cleaned_data["classification"],
        )
        # The files are stored only on submit: the draft says it will have some.
        draft.preview_has_files = has_files  # type: ignore[attr-defined]
        try:
            plan = _plan_view(plan_for_task(draft))
        except ApplicationError as exc:
            error = _plain_plan_error(exc.message, form, has_files)
    else:
        error = "Fix the fields marked in the form to see the plan."
    context: dict[str, Any] = {"plan": plan, "plan_error": error, "has_files": has_files}
    if request.htmx:
        return render(request, "dashboard/tasks/_plan.html", context)
    context.update(form=form, param_forms=agent_param_forms(request.POST))
    return render(request, "dashboard/tasks/new.html", context)


@login_required
@require_GET
def task_detail(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    task = _task_or_404(request, task_id)
    section = requested_section(request, DETAIL_SECTIONS)
    context = pages.task_detail_context(
        user=request.user,
        task=task,
        sections=frozenset({section}) if section else DETAIL_SECTIONS,
        page=section is None,
    )
    return render(request, section_template("dashboard/tasks/detail.html", section), context)


def _task_action(request: AuthenticatedRequest, task_id: uuid.UUID, action: str) -> HttpResponse:
    user = request.user
    if not user.can_write:
        return forbidden(request, "Your role can read tasks but not change them.")
    task = _task_or_404(request, task_id)
    service = services.task_cancel if action == "cancel" else services.task_retry
    error = None
    try:
        service(task=task, by=user)
    except (Conflict, PermissionDenied) as exc:
        error = exc.message
    if request.htmx:
        task = _task_or_404(request, task_id)
        context = pages.task_detail_context(
            user=user, task=task, sections=frozenset({pages.TASK_STATE}), page=False
        )
        context["action_error"] = error
        return render(request, f"dashboard/tasks/detail.html#{pages.TASK_STATE}", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Task cancelled." if action == "cancel" else "Task queued again.")
    return redirect("task_detail", task_id=task_id)


@login_required
@require_POST
def task_cancel(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    return _task_action(request, task_id, "cancel")


@login_required
@require_POST
def task_retry(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    return _task_action(request, task_id, "retry")
