"""What every page's layout needs: the navigation, built from the URL names that exist, so a
page appears in the menu as soon as the app that serves it is installed."""

from dataclasses import dataclass
from functools import lru_cache

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url: str


# (key, label, candidate URL names, who sees it). The first name that resolves wins.
_NAV: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("overview", "Overview", ("home",), "user"),
    ("tasks", "Tasks", ("task_list",), "user"),
    ("monitor", "Monitor", ("monitor",), "user"),
    ("agents", "Agents", ("agent_list",), "user"),
    ("providers", "Providers", ("provider_list",), "user"),
    ("search", "Search", ("knowledge:search", "search"), "user"),
    ("graph", "Graph", ("knowledge:graph", "graph"), "user"),
    ("audit", "Audit", ("audit:audit", "audit"), "org_admin"),
)


@lru_cache(maxsize=1)
def _resolved() -> tuple[tuple[str, str, str, str], ...]:
    items = []
    for key, label, names, audience in _NAV:
        for name in names:
            try:
                items.append((key, label, reverse(name), audience))
                break
            except NoReverseMatch:
                continue
    return tuple(items)


def url_or_none(*names: str) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_active": ""}
    items = [
        NavItem(key=key, label=label, url=url)
        for key, label, url, audience in _resolved()
        if audience == "user" or (audience == "org_admin" and user.is_org_admin)
    ]
    path = request.path
    # The longest matching prefix is the active section ("/" only matches itself).
    active = ""
    best = -1
    for item in items:
        matches = path == item.url if item.url == "/" else path.startswith(item.url)
        if matches and len(item.url) > best:
            active, best = item.key, len(item.url)
    return {
        "nav_items": items,
        "nav_active": active,
        "nav_account_url": url_or_none("account_email", "account_change_password"),
        "nav_mfa_url": url_or_none("mfa_index"),
        "nav_tokens_url": url_or_none("api_tokens", "account_tokens", "tokens"),
        "nav_logout_url": url_or_none("account_logout"),
        "nav_admin_url": url_or_none("admin:index") if user.is_staff else None,
    }
