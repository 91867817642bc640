"""The playbook pages (part of case work): the organisation's playbooks, and one playbook with
the plan it runs next to the plan the decision engine would make for the same target."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.agents.planner import plan_for_task
from apps.cases import playbooks
from apps.cases.models import Playbook
from apps.core.exceptions import ApplicationError, NotFound
from apps.core.vocabulary import Classification
from apps.dashboard.views.tasks import _plan_view
from apps.tasks.models import Task
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest


class CompareForm(forms.Form):
    target = forms.CharField(label="Target", max_length=2048)
    classification = forms.ChoiceField(label="TLP", choices=Classification.choices, initial="amber")


@login_required
@require_GET
def playbook_list(request: AuthenticatedRequest) -> HttpResponse:
    return render(
        request, "dashboard/cases/playbooks.html", {"playbooks": playbooks.playbook_list(user=request.user)}
    )


def _plan(
    request: AuthenticatedRequest, playbook: Playbook, data: dict[str, Any], *, pinned: bool
) -> tuple[Any, str | None]:
    """The plan for a draft task (never saved): the playbook's agents pinned, or the engine's
    own choice for the playbook's task type."""
    user = request.user
    draft = Task(
        organization_id=user.organization_id,  # type: ignore[misc]
        created_by=user,
        title=playbook.name,
        task_type=playbook.task_type,
        target=data["target"].strip(),
        parameters=dict(playbook.parameters) if pinned else {},
        requested_agents=list(playbook.agents) if pinned else [],
        classification=data["classification"],
    )
    try:
        return _plan_view(plan_for_task(draft)), None
    except ApplicationError as exc:
        return None, exc.message


@login_required
@require_GET
def playbook_detail(request: AuthenticatedRequest, name: str) -> HttpResponse:
    try:
        playbook = playbooks.playbook_get(user=request.user, name=name)
    except NotFound:
        raise Http404("Playbook not found.") from None
    form = CompareForm(request.GET if "target" in request.GET else None)
    context: dict[str, Any] = {"playbook": playbook, "form": form}
    if form.is_bound and form.is_valid():
        context["playbook_plan"], context["playbook_error"] = _plan(
            request, playbook, form.cleaned_data, pinned=True
        )
        context["engine_plan"], context["engine_error"] = _plan(
            request, playbook, form.cleaned_data, pinned=False
        )
    context["versions"] = playbook.versions.order_by("-version")[:20]
    return render(request, "dashboard/cases/playbook.html", context)
