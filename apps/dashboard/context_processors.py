"""What every page's layout needs: the navigation and the account menu's links."""

from dataclasses import dataclass
from functools import lru_cache

from django.http import HttpRequest
from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url: str


# (key, label, URL name, who sees it)
_NAV: tuple[tuple[str, str, str, str], ...] = (
    ("overview", "Overview", "home", "user"),
    ("tasks", "Tasks", "task_list", "user"),
    ("cases", "Investigations", "investigation_list", "user"),
    ("monitor", "Monitor", "monitor", "user"),
    ("agents", "Agents", "agent_list", "user"),
    ("providers", "Providers", "provider_list", "user"),
    ("search", "Search", "search", "user"),
    ("entities", "Entities", "entity_search", "user"),
    ("graph", "Graph", "graph", "user"),
    ("audit", "Audit", "audit", "org_admin"),
    ("health", "Health", "service_health", "org_admin"),
)


@lru_cache(maxsize=1)
def _resolved() -> tuple[tuple[str, str, str, str], ...]:
    # Reversed once per process: URLs do not change while it runs.
    return tuple((key, label, reverse(name), audience) for key, label, name, audience in _NAV)


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_active": ""}
    items = [
        NavItem(key=key, label=label, url=url)
        for key, label, url, audience in _resolved()
        if audience == "user" or (audience == "org_admin" and (user.is_org_admin or user.is_staff))
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
        "nav_account_url": reverse("account_email"),
        "nav_mfa_url": reverse("mfa_index"),
        "nav_tokens_url": reverse("api_tokens"),
        "nav_logout_url": reverse("account_logout"),
        "nav_admin_url": reverse("admin:index") if user.is_staff else None,
    }


def accounts(request: HttpRequest) -> dict[str, object]:
    """What the sign-in and account pages say: whether sign-up is open (the login page invites to
    it only then) and why this user must use two-factor authentication."""
    from allauth.account.adapter import get_adapter

    from apps.users.mfa import mfa_required

    user = getattr(request, "user", None)
    reason = ""
    if user is not None and mfa_required(user):
        if user.is_staff or user.is_superuser or getattr(user, "is_org_admin", False):
            reason = (
                "Your account can change users, providers and settings for everyone in your "
                "organisation, so a stolen password alone must not be enough to sign in as you."
            )
        else:
            reason = (
                "This installation requires two-factor authentication for every account: tasks and "
                "their results can hold sensitive material, so a stolen password alone must not be "
                "enough to sign in."
            )
    return {"signup_open": get_adapter(request).is_open_for_signup(request), "mfa_reason": reason}
