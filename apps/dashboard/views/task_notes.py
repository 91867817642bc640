"""A task's tags and comments on its page (the case layer keeps them: apps.cases services write,
selectors read). The panel loads with the page like "Similar tasks" and its two forms post back to
it: htmx swaps the panel, a plain form post is redirected to the task page. A refused input comes
back as 422 with the message next to its field."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.cases import selectors, services
from apps.cases.models import COMMENT_MAX_CHARS
from apps.core.exceptions import ApplicationError, NotFound
from apps.dashboard.forms import mark_invalid, put_error
from apps.dashboard.rendering import forbidden
from apps.tasks.models import Task
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest


class TaskTagsForm(forms.Form):
    tags = forms.CharField(
        label="Tags", required=False, help_text="Separated by commas or spaces; empty removes them all."
    )


class TaskCommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="@name@example.org mentions a member of your organisation.",
    )


def _task_or_404(request: AuthenticatedRequest, task_id: uuid.UUID) -> Task:
    try:
        return selectors.task_get(user=request.user, task_id=task_id)
    except NotFound:
        raise Http404("Task not found.") from None


def _panel(
    request: AuthenticatedRequest, task: Task, *, status: int = HTTPStatus.OK, **forms_: Any
) -> HttpResponse:
    tags = selectors.task_tags(task=task)
    context = {
        "task": task,
        "tags": tags,
        "comments": selectors.task_comments(task=task).select_related("author").prefetch_related("mentions"),
        "can_write": request.user.can_write,
        "tags_form": forms_.get("tags_form") or TaskTagsForm(initial={"tags": ", ".join(tags)}),
        "comment_form": forms_.get("comment_form") or TaskCommentForm(),
    }
    return render(request, "dashboard/tasks/_notes.html", context, status=status)


@login_required
@require_GET
def task_notes(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    return _panel(request, _task_or_404(request, task_id))


@login_required
@require_POST
def task_notes_tags(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    if not request.user.can_write:
        return forbidden(request, "Your role can read tasks but not tag them.")
    task = _task_or_404(request, task_id)
    form = TaskTagsForm(request.POST)
    if form.is_valid():
        try:
            tags = [t for t in form.cleaned_data["tags"].replace(",", " ").split() if t]
            services.task_tags_set(task=task, by=request.user, tags=tags)
        except ApplicationError as exc:
            put_error(form, exc, fallback="tags")
    return _answer(request, task, form, "tags_form", "Tags saved.")


@login_required
@require_POST
def task_notes_comment(request: AuthenticatedRequest, task_id: uuid.UUID) -> HttpResponse:
    if not request.user.can_write:
        return forbidden(request, "Your role can read tasks but not comment on them.")
    task = _task_or_404(request, task_id)
    form = TaskCommentForm(request.POST)
    if form.is_valid():
        try:
            services.comment_create(by=request.user, task=task, body=form.cleaned_data["body"])
        except ApplicationError as exc:
            put_error(form, exc, fallback="body")
        else:
            # posted: the panel's default, an empty box for the next one
            return _answer(request, task, None, "comment_form", "Comment added.")
    return _answer(request, task, form, "comment_form", "")


def _answer(
    request: AuthenticatedRequest, task: Task, form: forms.Form | None, name: str, done: str
) -> HttpResponse:
    """A refused form comes back in the panel with 422, htmx or not; a write answers htmx with the
    fresh panel and a plain post with a redirect to the task page."""
    if form is not None and form.errors:
        # Django's own validation refused it (put_error already marked what a service refused)
        mark_invalid(form)
        return _panel(request, task, status=HTTPStatus.UNPROCESSABLE_ENTITY, **{name: form})
    if request.htmx:
        return _panel(request, task)
    messages.success(request, done)
    return redirect("task_detail", task_id=task.pk)
