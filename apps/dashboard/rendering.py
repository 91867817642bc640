"""What every page view shares: which section an htmx request asked for, and the 403 page."""

from __future__ import annotations

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def requested_section(request: HttpRequest, sections: frozenset[str]) -> str | None:
    """The page section an htmx request targets by its id (its template has a partial of that
    name), or None for the whole page. A history restore always gets the whole page."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request and htmx.target in sections:
        return str(htmx.target)
    return None


def section_template(template: str, section: str | None) -> str:
    return f"{template}#{section}" if section else template


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request, "dashboard/tasks/forbidden.html", {"message": message}, status=HTTPStatus.FORBIDDEN
    )
