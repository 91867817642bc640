"""The dashboard's pages. Thin views: parse, call a selector or service, render. An htmx request
that targets a page section gets that section only (a django-template-partials partial of the
same template); live updates come over the websockets (static/js/amas.js)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.agents.planner import plan_for_task
from apps.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.tasks import selectors, services
from apps.tasks.dashboard import presenters, system
from apps.tasks.dashboard import selectors as board
from apps.tasks.dashboard.charts import hourly_chart
from apps.tasks.dashboard.forms import (
    AgentParamsForm,
    TaskFilterForm,
    TaskForm,
    agent_param_forms,
    agent_parameters,
    param_forms_valid,
)
from apps.tasks.models import TERMINAL_STATUSES, Task, TaskStatus

PAGE_SIZE = 25
BULK_LIMIT = 100
RETRYABLE = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED})


def login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's login_required, except that an htmx request (a section refreshing itself after
    the session expired) sends the whole page to the login form instead of swapping it in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if getattr(request, "htmx", None):
            current = request.htmx.current_url_abs_path or request.get_full_path()
            return HttpResponseClientRedirect(redirect_to_login(current)["Location"])
        return redirect_to_login(request.get_full_path())

    return wrapper


def _section(request: HttpRequest, template: str, sections: set[str]) -> str:
    """The partial an htmx request asked for by targeting its section's id, else the page."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request and htmx.target in sections:
        return f"{template}#{htmx.target}"
    return template


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "tasks/forbidden.html", {"message": message}, status=HTTPStatus.FORBIDDEN)


def _task_or_404(request: HttpRequest, task_id: uuid.UUID) -> Task:
    try:
        return board.task_for_detail(user=request.user, task_id=task_id)
    except NotFound:
        raise Http404("Task not found.") from None


# ------------------------------------------------------------------------------ overview


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    template = _section(request, "dashboard/overview.html", {"overview-status", "overview-health"})
    context: dict[str, Any] = {}
    if template.endswith(("overview.html", "#overview-status")):
        context.update(
            counts=board.task_status_counts(user=user),
            chart=hourly_chart(board.task_hourly(user=user)),
            queues=system.queue_depths(),
            workers=board.worker_activity(),
            failures=board.task_recent_failures(user=user),
            recent=board.task_recent(user=user),
        )
        context["total"] = sum(context["counts"].values())
        context["status_counts"] = [
            (v, label.lower(), context["counts"][v]) for v, label in TaskStatus.choices
        ]
    if template.endswith(("overview.html", "#overview-health")):
        since = timezone.now() - timedelta(hours=24)
        context.update(
            providers=system.provider_rows(user=user),
            agents=system.agent_rows(user=user, since=since),
        )
    return render(request, template, context)


# ---------------------------------------------------------------------------------- tasks


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    form = TaskFilterForm(request.GET)
    filters = selectors.TaskFilters(**form.filters())
    qs = board.task_list_page(user=request.user, filters=filters).order_by(*form.ordering())
    page = Paginator(board.task_rows(qs), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "sort": form.cleaned_data.get("sort") or "-created",
    }
    return render(request, _section(request, "tasks/list.html", {"task-results"}), context)


@login_required
@require_POST
def task_bulk(request: HttpRequest) -> HttpResponse:
    """Cancel or retry the selected tasks through the services; tasks whose state does not allow
    the action are skipped and counted."""
    user = request.user
    if not user.can_write:
        return _forbidden(request, "Your role can read tasks but not change them.")
    action = request.POST.get("action")
    service = {"cancel": services.task_cancel, "retry": services.task_retry}.get(action or "")
    ids = []
    for raw in request.POST.getlist("ids")[:BULK_LIMIT]:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    back = request.POST.get("next") or reverse("task_list")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("task_list")
    if service is None or not ids:
        messages.error(request, "Select tasks and an action.")
        return redirect(back)
    done, skipped = 0, []
    for task in selectors.task_visible(user=user).filter(pk__in=ids):
        try:
            service(task=task, by=user)
            done += 1
        except (Conflict, PermissionDenied) as exc:
            skipped.append(f"{task.title}: {exc.message}")
    verb = {"cancel": "Cancelled", "retry": "Retried"}[action]
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
def task_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.can_write:
        return _forbidden(request, "Your role can read tasks but not create them.")
    status = HTTPStatus.OK
    file_error = None
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
                return _forbidden(request, exc.message)
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
    else:
        form = TaskForm()
        param_forms = agent_param_forms()
    context = {"form": form, "param_forms": param_forms, "file_error": file_error}
    return render(request, _section(request, "tasks/new.html", {"task-form"}), context, status=status)


def _plan_view(plan: Any) -> dict[str, Any]:
    explanation = plan.explanation or {}
    return {
        "steps": plan.steps,
        "candidates": explanation.get("candidates", []),
        "weights": explanation.get("weights", {}),
        "explore": explanation.get("explore", False),
        "target_kinds": explanation.get("target_kinds", []),
    }


@login_required
@require_POST
def task_plan_preview(request: HttpRequest) -> HttpResponse:
    """The decision engine's plan for the form as filled in, before anything is saved."""
    user = request.user
    if not user.can_write:
        return _forbidden(request, "Your role can read tasks but not create them.")
    form = TaskForm(request.POST)
    plan, error = None, None
    if form.is_valid():
        draft = Task(
            organization_id=user.organization_id,
            created_by=user,
            title=form.task_title(),
            task_type=form.cleaned_data["task_type"],
            target=form.cleaned_data["target"].strip(),
            description=form.cleaned_data["description"],
            requested_agents=form.chosen_agents(),
            priority=form.cleaned_data["priority"],
            classification=form.cleaned_data["classification"],
        )
        try:
            plan = _plan_view(plan_for_task(draft))
        except ApplicationError as exc:
            error = exc.message
    else:
        error = "Fix the fields marked below to see the plan."
    context = {
        "plan": plan,
        "plan_error": error,
        "has_files": bool(request.POST.get("has_files") or request.FILES),
    }
    if request.htmx:
        return render(request, "tasks/_plan.html", context)
    context.update(form=form, param_forms=agent_param_forms(request.POST))
    return render(request, "tasks/new.html", context)


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = _task_or_404(request, task_id)
    template = _section(request, "tasks/detail.html", {"task-state", "task-results"})
    return render(request, template, _detail_context(request, task, template))


def _detail_context(request: HttpRequest, task: Task, template: str) -> dict[str, Any]:
    user = request.user
    page = template == "tasks/detail.html"
    context: dict[str, Any] = {
        "task": task,
        "can_write": user.can_write,
        "can_cancel": user.can_write and task.status not in TERMINAL_STATUSES,
        "can_retry": user.can_write and task.status in RETRYABLE,
    }
    if page or template.endswith("#task-state"):
        explanation = (task.plan or {}).get("explanation", {})
        context.update(steps=board.task_steps(task=task), candidates=explanation.get("candidates", []))
    if page or template.endswith("#task-results"):
        results = list(selectors.task_results(task=task))
        for result in results:
            result.blocks = presenters.result_blocks(result.data)
            result.raw = presenters.pretty_json(result.data)
        entities = system.task_entities(user=user, task=task)
        for entity in entities or []:
            entity.graph_url = system.graph_url_for(entity)
        calls = system.task_provider_calls(task=task)
        context.update(
            results=results,
            total_cost=sum((r.cost for r in results), start=0),
            total_tokens=sum(r.tokens_in + r.tokens_out for r in results),
            artefacts=system.task_artefacts(user=user, task=task),
            calls=calls,
            calls_cost=sum((c.cost for c in calls or []), start=0),
            entities=entities,
            summary_blocks=presenters.result_blocks((task.summary or {}).get("data") or {}),
            raw_task=presenters.pretty_json(
                {
                    "id": str(task.pk),
                    "status": task.status,
                    "task_type": task.task_type,
                    "target": task.target,
                    "parameters": task.parameters,
                    "requested_agents": task.requested_agents,
                    "plan": task.plan,
                    "summary": task.summary,
                    "error_message": task.error_message,
                }
            ),
        )
    if page:
        events = board.task_events_tail(task=task)
        context.update(
            events=presenters.event_rows(events),
            events_hidden=max(0, task.last_event_seq - len(events)),
            last_seq=events[-1].seq if events else 0,
            runs=board.task_runs(user=user, task=task) if task.schedule_id else [],
            same_target=board.tasks_same_target(user=user, task=task),
            similar_url=system.url_or_none("similar_tasks_partial", task.pk),
        )
    return context


def _task_action(request: HttpRequest, task_id: uuid.UUID, action: str) -> HttpResponse:
    user = request.user
    if not user.can_write:
        return _forbidden(request, "Your role can read tasks but not change them.")
    task = _task_or_404(request, task_id)
    service = services.task_cancel if action == "cancel" else services.task_retry
    error = None
    try:
        service(task=task, by=user)
    except (Conflict, PermissionDenied) as exc:
        error = exc.message
    if request.htmx:
        task = _task_or_404(request, task_id)
        context = _detail_context(request, task, "tasks/detail.html#task-state")
        context["action_error"] = error
        return render(request, "tasks/detail.html#task-state", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Task cancelled." if action == "cancel" else "Task queued again.")
    return redirect("task_detail", task_id=task_id)


@login_required
@require_POST
def task_cancel(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    return _task_action(request, task_id, "cancel")


@login_required
@require_POST
def task_retry(request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
    return _task_action(request, task_id, "retry")


# ----------------------------------------------------------------------- monitor and system


@login_required
@require_GET
def monitor(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in ("task", "step") else ""
    text = request.GET.get("text", "").strip()[:100]
    events = board.org_events(user=request.user, limit=100, kind=kind, text=text)
    context = {"events": presenters.event_rows(events, with_title=True), "kind": kind, "text": text}
    return render(request, "dashboard/monitor.html", context)


@login_required
@require_GET
def agent_list(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=30)
    return render(
        request, "dashboard/agents.html", {"agents": system.agent_rows(user=request.user, since=since)}
    )


@login_required
@require_GET
def provider_list(request: HttpRequest) -> HttpResponse:
    providers = system.provider_rows(user=request.user)
    return render(
        request,
        "dashboard/providers.html",
        {"providers": providers, "admin_add_url": system.url_or_none("admin:providers_provider_add")},
    )
