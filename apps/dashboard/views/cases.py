"""The investigation pages: the list (filters, search, paging), New investigation, and an
investigation's page with its tasks, live timeline, comments, tags, status/TLP/assignee edits,
tasks added or launched from its entities, and STIX 2.1 export and import. Every write goes
through apps.cases services; a refused input comes back as 422 with the message next to the
field it names."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import wraps
from http import HTTPStatus
from typing import Any, cast

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.cases import playbooks, selectors, services, stix
from apps.cases.models import COMMENT_MAX_CHARS, TAG_MAX_CHARS, Investigation, InvestigationStatus
from apps.core.exceptions import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from apps.core.vocabulary import Classification, task_types
from apps.dashboard.forms import mark_invalid, put_error
from apps.dashboard.presenters import event_detail
from apps.dashboard.rendering import forbidden, requested_section, section_template
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest

PAGE_SIZE = 25
STIX_UPLOAD_MAX_BYTES = 10 * 1024 * 1024
LIST_SECTIONS = frozenset({"case-results"})
DETAIL_SECTIONS = frozenset(
    {
        "case-state",
        "case-edit",
        "case-tasks",
        "case-task-form",
        "case-timeline",
        "case-comments",
        "case-comment-form",
        "case-entities",
        "case-stix",
    }
)
READ_ONLY = "Your role can read investigations but not change them."
# htmx fires this on <body> after a change, so the page's other sections re-read themselves
CHANGED = json.dumps({"amas:case-changed": True})


# ------------------------------------------------------------------------------------ forms


class InvestigationFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *InvestigationStatus.choices]
    )
    tag = forms.CharField(label="Tag", required=False, max_length=TAG_MAX_CHARS)
    assignee = forms.TypedChoiceField(label="Assignee", required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, members: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["assignee"]).choices = [
            ("", "Anyone"),
            *((m.pk, m.email) for m in members),
        ]

    def filters(self) -> selectors.InvestigationFilters:
        if not self.is_valid():
            return selectors.InvestigationFilters()
        data = self.cleaned_data
        return selectors.InvestigationFilters(
            status=data["status"] or None,
            tag=data["tag"] or None,
            q=data["q"] or None,
            assignee=data["assignee"],
        )


class InvestigationForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    classification = forms.ChoiceField(label="TLP", choices=Classification.choices, initial="amber")
    tags = forms.CharField(
        label="Tags", required=False, help_text="Separated by commas or spaces: phishing, apt:29 ..."
    )


class InvestigationEditForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=InvestigationStatus.choices)
    classification = forms.ChoiceField(
        label="TLP", choices=Classification.choices, help_text="Never below a task of the investigation."
    )
    assignees = forms.TypedMultipleChoiceField(
        label="Assignees", required=False, coerce=int, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, members: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["assignees"]).choices = [(m.pk, m.email) for m in members]


class TagForm(forms.Form):
    tag = forms.CharField(label="Add a tag", max_length=TAG_MAX_CHARS)


class CommentForm(forms.Form):
    # no max_length here: the service names the limit (a form limit would cut the text silently)
    body = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"Up to {COMMENT_MAX_CHARS:,} characters. @alice@example.org mentions a member.",
    )


class CaseTaskForm(forms.Form):
    playbook = forms.ChoiceField(label="Playbook", required=False)
    task_type = forms.ChoiceField(label="Task type", required=False)
    target = forms.CharField(label="Target", max_length=2048)
    title = forms.CharField(label="Title", required=False, max_length=200)
    classification = forms.ChoiceField(label="TLP", choices=Classification.choices, initial="amber")

    def __init__(self, *args: Any, playbook_names: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["playbook"]).choices = [
            ("", "None: the decision engine chooses"),
            *((n, n) for n in playbook_names),
        ]
        cast(forms.ChoiceField, self.fields["task_type"]).choices = task_types.choices()
        self.fields["task_type"].initial = "investigation"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # an unknown playbook (a stale page, a crafted request) is named like any refused choice
        if "playbook" in self.errors:
            name = str(self.data.get("playbook", ""))[:100]
            self.errors["playbook"] = self.error_class([f"No playbook named {name!r} in your organisation."])
        return data


class ExistingTaskForm(forms.Form):
    task_id = forms.UUIDField(label="Task id")


class StixImportForm(forms.Form):
    bundle = forms.FileField(label="STIX 2.1 bundle (JSON)")


def _tags_from_text(text: str) -> list[str]:
    return [t for t in text.replace(",", " ").split() if t]


# ------------------------------------------------------------------------------------ pages


def _investigation_or_404(request: AuthenticatedRequest, investigation_id: uuid.UUID) -> Investigation:
    try:
        return selectors.investigation_get(user=request.user, investigation_id=investigation_id)
    except NotFound:
        raise Http404("Investigation not found.") from None


@login_required
@require_GET
def investigation_list(request: AuthenticatedRequest) -> HttpResponse:
    members = list(selectors.investigation_assignable(user=request.user))
    form = InvestigationFilterForm(request.GET, members=members)
    qs = selectors.investigation_list(user=request.user, filters=form.filters())
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    section = requested_section(request, LIST_SECTIONS)
    return render(request, section_template("dashboard/cases/list.html", section), context)


@login_required
@require_http_methods(["GET", "POST"])
def investigation_new(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    if not user.can_write:
        return forbidden(request, READ_ONLY)
    status = HTTPStatus.OK
    form = InvestigationForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                investigation = services.investigation_create(
                    user=user,
                    title=data["title"],
                    description=data["description"],
                    classification=data["classification"],
                    tags=_tags_from_text(data["tags"]),
                )
            except PermissionDenied as exc:
                return forbidden(request, exc.message)
            except ApplicationError as exc:
                put_error(form, exc)
            else:
                url = reverse("investigation_detail", args=[investigation.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        status = HTTPStatus.UNPROCESSABLE_ENTITY
        mark_invalid(form)
    return render(request, "dashboard/cases/new.html", {"form": form}, status=status)


def _detail_context(
    request: AuthenticatedRequest, investigation: Investigation, **forms_: Any
) -> dict[str, Any]:
    user = request.user
    members = list(selectors.investigation_assignable(user=user))
    tasks = list(selectors.investigation_tasks(investigation=investigation).select_related("created_by"))
    titles = {str(t.pk): t.title for t in tasks}
    timeline = []
    for entry in selectors.investigation_timeline(investigation=investigation):
        task_id = str(entry["task_id"]) if entry["task_id"] else str(entry["payload"].get("task_id") or "")
        detail = (
            event_detail(entry["kind"], entry["payload"])
            if entry["source"] == "task"
            else _analyst_detail(entry["kind"], entry["payload"])
        )
        timeline.append(
            {**entry, "task_id": task_id, "task_title": titles.get(task_id, ""), "detail": detail}
        )
    edit = forms_.get("edit_form") or InvestigationEditForm(
        members=members,
        initial={
            "status": investigation.status,
            "classification": investigation.classification,
            "assignees": [u.pk for u in investigation.assignees.all()],
        },
    )
    playbook_names = list(
        playbooks.playbook_list(user=user).filter(active=True).values_list("name", flat=True)
    )
    return {
        "investigation": investigation,
        "tasks": tasks,
        "timeline": timeline,
        "comments": selectors.investigation_comments(investigation=investigation),
        "entities": selectors.investigation_entities(investigation=investigation),
        "edit_form": edit,
        "tag_form": forms_.get("tag_form") or TagForm(),
        "comment_form": forms_.get("comment_form") or CommentForm(),
        "task_form": forms_.get("task_form") or CaseTaskForm(playbook_names=playbook_names),
        "existing_form": forms_.get("existing_form") or ExistingTaskForm(),
        "stix_form": forms_.get("stix_form") or StixImportForm(),
        "follow_up_error": forms_.get("follow_up_error"),
        "stix_result": forms_.get("stix_result"),
        "can_write": user.can_write,
    }


def _analyst_detail(kind: str, payload: dict[str, Any]) -> str:
    """What an analyst's timeline entry says, in words."""
    if kind == "investigation.comment":
        mentions = payload.get("mentions") or []
        return "commented" + (f", mentioning {', '.join(mentions)}" if mentions else "")
    if kind == "investigation.task_added":
        origin = payload.get("origin")
        text = f"added task {payload.get('title', '')}"
        return text + (f" (follow-up of {origin['kind']} {origin['value']})" if origin else "")
    if kind == "investigation.stix_import":
        new, known = payload.get("imported", 0), payload.get("already_present", 0)
        return f"imported a STIX bundle: {new} new, {known} known"
    changes = payload.get("changes")
    if isinstance(changes, dict):
        parts = []
        for field, change in changes.items():
            if isinstance(change, list) and len(change) == 2 and field != "assignees":
                parts.append(f"{field} {change[0]} → {change[1]}")
            else:
                parts.append(f"{field} changed")
        return "; ".join(parts)
    return str(payload.get("title") or "")


@login_required
@require_GET
def investigation_detail(request: AuthenticatedRequest, investigation_id: uuid.UUID) -> HttpResponse:
    investigation = _investigation_or_404(request, investigation_id)
    section = requested_section(request, DETAIL_SECTIONS)
    context = _detail_context(request, investigation)
    return render(request, section_template("dashboard/cases/detail.html", section), context)


def _after_write(
    request: AuthenticatedRequest,
    investigation_id: uuid.UUID,
    section: str,
    *,
    failed: bool = False,
    message: str = "",
    **forms_: Any,
) -> HttpResponse:
    """htmx: the section the form sits in (422 with the errors when the service refused), and
    the other sections told to re-read. Without htmx: back to the page, or the page with errors."""
    investigation = _investigation_or_404(request, investigation_id)
    status = HTTPStatus.UNPROCESSABLE_ENTITY if failed else HTTPStatus.OK
    if not failed and not request.htmx:
        if message:
            from django.contrib import messages

            messages.success(request, message)
        return redirect("investigation_detail", investigation_id=investigation_id)
    context = _detail_context(request, investigation, **forms_)
    template = f"dashboard/cases/detail.html#{section}" if request.htmx else "dashboard/cases/detail.html"
    response = render(request, template, context, status=status)
    if not failed:
        response["HX-Trigger"] = CHANGED
    return response


InvestigationView = Callable[[AuthenticatedRequest, Investigation], HttpResponse]


def _for_writers(view: InvestigationView) -> Callable[[AuthenticatedRequest, uuid.UUID], HttpResponse]:
    """A write to an investigation: a reader is refused before anything is bound or looked up,
    then the view gets the investigation (404 when it is not the user's organisation's)."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, investigation_id: uuid.UUID) -> HttpResponse:
        if not request.user.can_write:
            return forbidden(request, READ_ONLY)
        return view(request, _investigation_or_404(request, investigation_id))

    return wrapper


def _form_write(
    request: AuthenticatedRequest,
    investigation: Investigation,
    form: forms.Form,
    write: Callable[[dict[str, Any]], Any],
    *,
    section: str,
    form_key: str,
    fallback: str | None = None,
    message: str | Callable[[Any], str] = "",
    result_key: str = "",
    keep_form: bool = False,
) -> HttpResponse:
    """The shape of every investigation form: the bound form checked, `write` (the service call)
    given its cleaned data, a refusal put at the field it names (`fallback` when it names none of
    this form's), and _after_write's answer in `section`. On success: `message` (a text, or made
    from write's result), the result shown as `result_key`, the posted form kept if `keep_form`."""
    if form.is_valid():
        try:
            result = write(form.cleaned_data)
        except ApplicationError as exc:
            put_error(form, exc, fallback=fallback)
        else:
            shown: dict[str, Any] = {form_key: form} if keep_form else {}
            if result_key:
                shown[result_key] = result
            text = message(result) if callable(message) else message
            return _after_write(request, investigation.pk, section, message=text, **shown)
    mark_invalid(form)
    refused: dict[str, Any] = {form_key: form}
    return _after_write(request, investigation.pk, section, failed=True, **refused)


@login_required
@require_POST
@_for_writers
def investigation_edit(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    """Status, TLP and assignees."""
    form = InvestigationEditForm(request.POST, members=selectors.investigation_assignable(user=request.user))
    return _form_write(
        request,
        investigation,
        form,
        lambda data: services.investigation_update(
            investigation=investigation,
            by=request.user,
            status=data["status"],
            classification=data["classification"],
            assignee_ids=list(data["assignees"]),
        ),
        section="case-edit",
        form_key="edit_form",
        keep_form=True,
    )


@login_required
@require_POST
@_for_writers
def investigation_tag(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    """Add the tag in `tag`, or remove the one named by `remove`."""
    removing = request.POST.get("remove")
    if removing is None:
        return _form_write(
            request,
            investigation,
            TagForm(request.POST),
            lambda data: services.investigation_update(
                investigation=investigation,
                by=request.user,
                tags=[*investigation.tags, *_tags_from_text(data["tag"])],
            ),
            section="case-edit",
            form_key="tag_form",
            fallback="tag",
            keep_form=True,
        )
    # the × on a tag binds no form; a refusal is shown at the tag box all the same
    tags = [t for t in investigation.tags if t != removing]
    try:
        services.investigation_update(investigation=investigation, by=request.user, tags=tags)
    except ApplicationError as exc:
        bound = TagForm(request.POST)
        bound.is_valid()
        put_error(bound, exc, fallback="tag")
        return _after_write(request, investigation.pk, "case-edit", failed=True, tag_form=bound)
    return _after_write(request, investigation.pk, "case-edit")


@login_required
@require_POST
@_for_writers
def investigation_comment(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    return _form_write(
        request,
        investigation,
        CommentForm(request.POST),
        lambda data: services.comment_create(by=request.user, body=data["body"], investigation=investigation),
        section="case-comment-form",
        form_key="comment_form",
        fallback="body",
        message="Comment added.",
    )


@login_required
@require_POST
@_for_writers
def investigation_task_new(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    """A new task in the investigation: a playbook's run, or one the decision engine plans."""
    user = request.user
    names = list(playbooks.playbook_list(user=user).filter(active=True).values_list("name", flat=True))

    def submit(data: dict[str, Any]) -> object:
        target = data["target"].strip()
        if data["playbook"]:
            return playbooks.playbook_run(
                playbook=playbooks.playbook_get(user=user, name=data["playbook"]),
                by=user,
                target=target,
                title=data["title"],
                classification=data["classification"],
                investigation=investigation,
            )
        return services.investigation_task_create(
            investigation=investigation,
            by=user,
            title=data["title"] or f"{data['task_type']} {target}"[:200],
            task_type=data["task_type"] or "investigation",
            target=target,
            classification=data["classification"],
        )

    return _form_write(
        request,
        investigation,
        CaseTaskForm(request.POST, playbook_names=names),
        submit,
        section="case-task-form",
        form_key="task_form",
        # what names no field of this form is about the kind of task ("a custom task must name
        # its agents", no agent for this type)
        fallback="task_type",
        message="Task submitted.",
    )


@login_required
@require_POST
@_for_writers
def investigation_task_add(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    """An existing task of the organisation joins the investigation."""

    def add(data: dict[str, Any]) -> None:
        try:
            task = selectors.task_get(user=request.user, task_id=data["task_id"])
        except NotFound:
            raise ValidationFailed(
                "No task with this id in your organisation.", extra={"field": "task_id"}
            ) from None
        services.investigation_add_task(investigation=investigation, task=task, by=request.user)

    return _form_write(
        request,
        investigation,
        ExistingTaskForm(request.POST),
        add,
        section="case-task-form",
        form_key="existing_form",
        fallback="task_id",
        message="Task added.",
    )


@login_required
@require_POST
@_for_writers
def investigation_follow_up(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    """ "Investigate this": a task on an entity a member task found, keeping its origin."""
    post = request.POST
    error = None
    try:
        origin = selectors.task_get(user=request.user, task_id=uuid.UUID(post.get("origin_task_id", "")))
        services.investigation_follow_up(
            investigation=investigation,
            by=request.user,
            origin_task=origin,
            kind=post.get("kind", "")[:32],
            value=post.get("value", ""),
        )
    except (ValueError, NotFound):
        error = "The task this entity came from is not in your organisation."
    except ApplicationError as exc:
        error = exc.message
    if error:
        return _after_write(request, investigation.pk, "case-entities", failed=True, follow_up_error=error)
    return _after_write(request, investigation.pk, "case-entities", message="Follow-up task submitted.")


@login_required
@require_GET
def investigation_stix_export(request: AuthenticatedRequest, investigation_id: uuid.UUID) -> HttpResponse:
    investigation = _investigation_or_404(request, investigation_id)
    bundle = stix.stix_export_investigation(user=request.user, investigation=investigation)
    response = HttpResponse(json.dumps(bundle, indent=2), content_type="application/stix+json;version=2.1")
    response["Content-Disposition"] = f'attachment; filename="investigation-{investigation.pk}.stix.json"'
    return response


@login_required
@require_POST
@_for_writers
def investigation_stix_import(request: AuthenticatedRequest, investigation: Investigation) -> HttpResponse:
    def import_bundle(data: dict[str, Any]) -> dict[str, Any]:
        upload = data["bundle"]
        try:
            if upload.size > STIX_UPLOAD_MAX_BYTES:
                raise ValueError(f"the file is over {STIX_UPLOAD_MAX_BYTES // (1024 * 1024)} MB")
            bundle = json.loads(upload.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"Not a JSON file: {str(exc)[:200]}", extra={"field": "bundle"}) from None
        try:
            return stix.stix_import(investigation=investigation, by=request.user, bundle=bundle)
        except ApplicationError as exc:
            # the refusal names a bundle object and its field, not this form's: said at the upload
            where = exc.extra.get("object")
            field = exc.extra.get("field")
            named = f" (at {where}{', field ' + str(field) if field else ''})" if where else ""
            raise ValidationFailed(f"{exc.message}{named}", extra={"field": "bundle"}) from exc

    return _form_write(
        request,
        investigation,
        StixImportForm(request.POST, request.FILES),
        import_bundle,
        section="case-stix",
        form_key="stix_form",
        message=lambda result: (
            f"Imported {result['imported']} observables ({result['skipped']} already known)."
        ),
        result_key="stix_result",
    )


# ------------------------------------------------------------------- the New task form's picker


@dataclass
class PlaybookPick:
    """The playbook picker of the New task form: the organisation's active playbooks, and the
    one chosen (?playbook=NAME) as the form's task type and agents and its agents' parameters."""

    playbooks: list[Any]
    name: str = ""
    error: str | None = None
    initial: dict[str, Any] = dataclass_field(default_factory=dict)
    parameters: dict[str, Any] = dataclass_field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        return {"playbooks": self.playbooks, "playbook": self.name, "playbook_error": self.error}


def playbook_pick(request: AuthenticatedRequest) -> PlaybookPick:
    user = request.user
    pick = PlaybookPick(playbooks=list(playbooks.playbook_list(user=user).filter(active=True)))
    pick.name = (request.GET.get("playbook") or request.POST.get("playbook") or "").strip()[:100]
    if not pick.name or request.method != "GET":
        return pick
    chosen = next((p for p in pick.playbooks if p.name == pick.name), None)
    if chosen is None:
        pick.error = f"No active playbook named {pick.name!r} in your organisation."
        return pick
    pick.initial = {"task_type": chosen.task_type, "agent_mode": "manual", "agents": list(chosen.agents)}
    pick.parameters = dict(chosen.parameters)
    return pick
