"""Every page and browser download asks an anonymous visitor to sign in, the same way
everywhere: a plain request is redirected to the login form, and an htmx request (a section
refreshing itself after the session ended) tells htmx to send the whole page there instead of
swapping the login form into the section."""

import uuid
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, reverse

from apps.dashboard.urls import urlpatterns

pytestmark = pytest.mark.django_db

ARGS = {"uuid": uuid.UUID(int=1), "int": 1, "string": "x"}


def _url(pattern: URLPattern) -> str:
    converters = pattern.pattern.converters
    kwargs = {
        name: ARGS[type(conv).__name__.removesuffix("Converter").lower()] for name, conv in converters.items()
    }
    return reverse(pattern.name, kwargs=kwargs)


# The dashboard's pages, plus the other pages a browser opens: an artefact download and ops' page.
OTHERS = [reverse("knowledge:artefact_download", args=[uuid.UUID(int=1)]), reverse("service_health")]


def _patterns(patterns: list) -> list[URLPattern]:
    """Every page, included URL modules (members) too; their names are global (no namespace)."""
    found: list[URLPattern] = []
    for p in patterns:
        found.extend(_patterns(p.url_patterns) if isinstance(p, URLResolver) else [p])
    return found


PAGES = [_url(p) for p in _patterns(urlpatterns)] + OTHERS


def _next(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == reverse("account_login")
    return parse_qs(parts.query)["next"][0]


def test_every_dashboard_url_is_listed():
    """The walk over apps.dashboard.urls finds the pages (the parametrised tests below are not
    vacuous)."""
    names = {p.name for p in _patterns(urlpatterns)}
    assert {"home", "task_list", "task_detail", "search", "graph", "audit", "api_tokens"} <= names
    assert {"entity_search", "entity_suggest", "entity_detail", "task_list_news"} <= names
    assert len(PAGES) == len(_patterns(urlpatterns)) + len(OTHERS)


@pytest.mark.parametrize("url", PAGES)
def test_an_anonymous_request_goes_to_the_login_form_and_comes_back(client, url):
    response = client.get(url)
    assert response.status_code == HTTPStatus.FOUND
    assert _next(response["Location"]) == url


@pytest.mark.parametrize("url", PAGES)
def test_an_anonymous_htmx_request_sends_the_whole_page_to_the_login_form(client, url):
    response = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/tasks/?q=x")
    assert response.status_code == HTTPStatus.OK
    assert _next(response["HX-Redirect"]) == "/tasks/?q=x"
