"""The Members page for organisation admins: members with their roles (change, deactivate,
reactivate), invitations (invite, resend, revoke). Thin: the rules live in apps/users/members.py
and apps/users/invitations.py; every action is a plain POST form that redirects back (no scripts).
Included by apps/dashboard/urls.py under members/."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.core.exceptions import ApplicationError
from apps.users import invitations, members, selectors
from apps.users.decorators import login_required
from apps.users.http import AuthenticatedRequest
from apps.users.models import Invitation, Role, User

# A button on a row of the page acts on a member or an invitation (Found): the action does it and
# says what it did; the view is what the URL calls, with the row's id.
Found = TypeVar("Found")
RowAction = Callable[[AuthenticatedRequest, Found], str]
RowView = Callable[[AuthenticatedRequest, int], HttpResponse]


def _admin(request: AuthenticatedRequest) -> None:
    if not request.user.is_org_admin or request.user.organization_id is None:
        raise PermissionDenied("Only organisation admins manage members.")


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("members"))


def _act(request: AuthenticatedRequest, action: Callable[[], str]) -> HttpResponseRedirect:
    """Run a service call and report its outcome on the page it redirects to."""
    try:
        messages.success(request, action())
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back()


@never_cache
@login_required
@require_GET
def members_page(request: AuthenticatedRequest) -> HttpResponse:
    _admin(request)
    return render(
        request,
        "dashboard/members/list.html",
        {
            "members": selectors.member_list(user=request.user),
            "invitations": selectors.invitation_list(user=request.user),
            "roles": Role.choices,
        },
    )


@login_required
@require_POST
def member_invite(request: AuthenticatedRequest) -> HttpResponse:
    _admin(request)
    email, role = request.POST.get("email", ""), request.POST.get("role", "")

    def invite() -> str:
        issued = invitations.invitation_create(by=request.user, email=email, role=role, request=request)
        return f"Invitation sent to {issued.invitation.email}."

    return _act(request, invite)


def _admin_post(find: Callable[[AuthenticatedRequest, int], Found]) -> Callable[[RowAction[Found]], RowView]:
    """A button on one row of the Members page: admins only; the member or invitation is found in
    the admin's organisation (anyone else's is "not found", said like any refusal), the action
    runs and returns what the page it redirects to says."""

    def decorate(action: RowAction[Found]) -> RowView:
        @login_required
        @require_POST
        @wraps(action)
        def view(request: AuthenticatedRequest, pk: int) -> HttpResponse:
            _admin(request)
            return _act(request, lambda: action(request, find(request, pk)))

        return view

    return decorate


def _member(request: AuthenticatedRequest, pk: int) -> User:
    return selectors.member_get(user=request.user, member_id=pk)


def _invitation(request: AuthenticatedRequest, pk: int) -> Invitation:
    return selectors.invitation_get(user=request.user, invitation_id=pk)


@_admin_post(_member)
def member_role(request: AuthenticatedRequest, member: User) -> str:
    member = members.member_set_role(
        member=member, role=request.POST.get("role", ""), by=request.user, request=request
    )
    return f"{member.email} is now {member.get_role_display().lower()}."


@_admin_post(_member)
def member_deactivate(request: AuthenticatedRequest, member: User) -> str:
    members.member_deactivate(member=member, by=request.user, request=request)
    return f"{member.email} is deactivated: their API tokens are revoked and their sessions ended."


@_admin_post(_member)
def member_reactivate(request: AuthenticatedRequest, member: User) -> str:
    members.member_reactivate(member=member, by=request.user, request=request)
    return f"{member.email} can sign in again (with new API tokens)."


@_admin_post(_invitation)
def invitation_resend(request: AuthenticatedRequest, invitation: Invitation) -> str:
    invitations.invitation_resend(invitation=invitation, by=request.user, request=request)
    return f"A new link was sent to {invitation.email}; the previous one no longer works."


@_admin_post(_invitation)
def invitation_revoke(request: AuthenticatedRequest, invitation: Invitation) -> str:
    invitations.invitation_revoke(invitation=invitation, by=request.user, request=request)
    return f"The invitation of {invitation.email} is revoked."


urlpatterns = [
    path("", members_page, name="members"),
    path("invite/", member_invite, name="member_invite"),
    path("<int:pk>/role/", member_role, name="member_role"),
    path("<int:pk>/deactivate/", member_deactivate, name="member_deactivate"),
    path("<int:pk>/reactivate/", member_reactivate, name="member_reactivate"),
    path("invitations/<int:pk>/resend/", invitation_resend, name="invitation_resend"),
    path("invitations/<int:pk>/revoke/", invitation_revoke, name="invitation_revoke"),
]
