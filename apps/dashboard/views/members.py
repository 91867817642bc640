"""The Members page for organisation admins: members with their roles (change, deactivate,
reactivate), invitations (invite, resend, revoke). Thin: the rules live in apps/users/members.py
and apps/users/invitations.py; every action is a plain POST form that redirects back (no scripts).
Included by apps/dashboard/urls.py under members/."""

from __future__ import annotations

from collections.abc import Callable

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
from apps.users.models import Role


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


@login_required
@require_POST
def member_role(request: AuthenticatedRequest, member_id: int) -> HttpResponse:
    _admin(request)

    def change() -> str:
        member = selectors.member_get(user=request.user, member_id=member_id)
        member = members.member_set_role(
            member=member, role=request.POST.get("role", ""), by=request.user, request=request
        )
        return f"{member.email} is now {member.get_role_display().lower()}."

    return _act(request, change)


@login_required
@require_POST
def member_deactivate(request: AuthenticatedRequest, member_id: int) -> HttpResponse:
    _admin(request)

    def deactivate() -> str:
        member = selectors.member_get(user=request.user, member_id=member_id)
        members.member_deactivate(member=member, by=request.user, request=request)
        return f"{member.email} is deactivated: their API tokens are revoked and their sessions ended."

    return _act(request, deactivate)


@login_required
@require_POST
def member_reactivate(request: AuthenticatedRequest, member_id: int) -> HttpResponse:
    _admin(request)

    def reactivate() -> str:
        member = selectors.member_get(user=request.user, member_id=member_id)
        members.member_reactivate(member=member, by=request.user, request=request)
        return f"{member.email} can sign in again (with new API tokens)."

    return _act(request, reactivate)


@login_required
@require_POST
def invitation_resend(request: AuthenticatedRequest, invitation_id: int) -> HttpResponse:
    _admin(request)

    def resend() -> str:
        invitation = selectors.invitation_get(user=request.user, invitation_id=invitation_id)
        invitations.invitation_resend(invitation=invitation, by=request.user, request=request)
        return f"A new link was sent to {invitation.email}; the previous one no longer works."

    return _act(request, resend)


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedRequest, invitation_id: int) -> HttpResponse:
    _admin(request)

    def revoke() -> str:
        invitation = selectors.invitation_get(user=request.user, invitation_id=invitation_id)
        invitations.invitation_revoke(invitation=invitation, by=request.user, request=request)
        return f"The invitation of {invitation.email} is revoked."

    return _act(request, revoke)


urlpatterns = [
    path("", members_page, name="members"),
    path("invite/", member_invite, name="member_invite"),
    path("<int:member_id>/role/", member_role, name="member_role"),
    path("<int:member_id>/deactivate/", member_deactivate, name="member_deactivate"),
    path("<int:member_id>/reactivate/", member_reactivate, name="member_reactivate"),
    path("invitations/<int:invitation_id>/resend/", invitation_resend, name="invitation_resend"),
    path("invitations/<int:invitation_id>/revoke/", invitation_revoke, name="invitation_revoke"),
]
