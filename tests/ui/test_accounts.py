"""Sign-in and account pages in Chromium: in the app's layout, the required two-factor setup
explained and stable across reloads, recovery codes with a way on, error pages in the layout,
and every main page usable at 390 px without scrolling sideways. One server and browser for
the module (the fixtures in conftest.py)."""

import re
import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import expect

from apps.users.models import Role
from tests.ui.browser import PASSWORD, log_in, screenshot
from tests.ui.test_reports import WIDE_ELEMENTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def _styled(page) -> None:
    """The page uses the app's layout and stylesheet."""
    expect(page.locator("header.site-header .brand")).to_have_text("AMAS")
    assert page.evaluate("[...document.styleSheets].some(s => (s.href || '').includes('/css/amas.css'))")


def test_sign_in_page_is_styled_and_offers_no_sign_up_when_closed(page, live_url, analyst):
    page.goto(f"{live_url}/accounts/login/")
    _styled(page)
    expect(page.locator("h1")).to_have_text("Sign in to AMAS")
    expect(page.get_by_text(re.compile("sign up", re.I))).to_have_count(0)
    expect(page.get_by_text("Accounts are created by your organisation's administrator.")).to_be_visible()
    screenshot(page, "account-login")

    page.fill("input[name=login]", analyst.email)
    page.fill("input[name=password]", "wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-error-summary]")).to_be_visible()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    assert not page.problems, page.problems


def test_required_two_factor_setup_is_explained_stable_and_leads_on(page, live_url, user_factory):
    admin = user_factory(role=Role.ADMIN)
    page.goto(f"{live_url}/accounts/login/")
    page.fill("input[name=login]", admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # An admin without a second factor is sent to the setup, which says why.
    page.goto(f"{live_url}/tasks/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate"))
    _styled(page)
    expect(page.locator("[data-mfa-reason]")).to_contain_text("stolen password")
    secret = page.locator("[data-totp-secret]").inner_text()
    expect(page.locator("img.qr")).to_be_visible()
    screenshot(page, "account-mfa-setup")

    page.reload()
    assert page.locator("[data-totp-secret]").inner_text() == secret  # a reload keeps the secret

    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    page.get_by_label("Authenticator code").fill(code)
    page.get_by_role("button", name="Turn on two-factor authentication").click()

    expect(page.locator("h1")).to_have_text(re.compile("Recovery codes|Confirm it is you"))
    if page.locator("h1", has_text="Confirm it is you").count():  # allauth asks for the password again
        page.fill("input[name=password]", PASSWORD)
        page.locator("form", has=page.locator("input[name=password]")).locator("button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Recovery codes")
    expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
    expect(page.get_by_role("button", name="Copy codes")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download codes").click()
    assert download.value.suggested_filename.endswith(".txt")
    screenshot(page, "account-recovery-codes")
    page.locator("[data-continue]").click()
    expect(page.locator("h1")).to_have_text("Overview")
    # The admin sees service health in the navigation.
    page.get_by_role("link", name="Health").click()
    expect(page).to_have_url(re.compile(r"/ops/health"))
    assert not page.problems, page.problems


def test_error_pages_are_in_the_layout(page, live_url, analyst):
    log_in(page, live_url, analyst)
    expected = []
    page.on("response", lambda r: r.status in (403, 404) and expected.append(r.url))
    response = page.goto(f"{live_url}/tasks/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    _styled(page)
    expect(page.locator("h1")).to_have_text("Not found")
    screenshot(page, "error-404")
    response = page.goto(f"{live_url}/audit/")
    assert response.status == 403
    _styled(page)
    expect(page.locator("h1")).to_have_text("Not allowed")
    screenshot(page, "error-403")
    # The expected 4xx answers are the only problems the page saw.
    assert [p for p in page.problems if not any(url in p for url in expected)] == []


PHONE_PAGES = [
    "/",
    "/tasks/",
    "/tasks/new/",
    "/monitor/",
    "/agents/",
    "/providers/",
    "/search/?q=example",
    "/graph/",
    "/entities/",
    "/tokens/",
    "/accounts/email/",
    "/accounts/2fa/",
]


def test_at_390_px_no_page_scrolls_sideways_and_the_menu_folds(chromium, live_url, analyst):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    try:
        log_in(page, live_url, analyst)
        wide = {}
        for path in PHONE_PAGES:
            page.goto(f"{live_url}{path}")
            page.wait_for_load_state("networkidle")
            if not page.evaluate(NO_SIDEWAYS_SCROLL):
                wide[path] = page.evaluate(WIDE_ELEMENTS)
            screenshot(page, "mobile-" + (path.split("?")[0].strip("/").replace("/", "-") or "overview"))
        assert wide == {}, wide

        nav = page.locator("nav.site-nav")
        expect(nav).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(nav).to_be_visible()
        expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
        screenshot(page, "mobile-menu-open")
        page.get_by_role("link", name="Tasks", exact=True).click()
        expect(page.locator("h1")).to_have_text("Tasks")
        assert problems == [], problems
    finally:
        context.close()


def test_every_page_in_the_dark_theme_logs_no_console_error(chromium, live_url, analyst):
    """Screenshots of the main pages in the dark theme (light ones: test_browser.py), and no
    console error on any of them."""
    context = chromium.new_context(color_scheme="dark", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    try:
        log_in(page, live_url, analyst)
        for path in PHONE_PAGES:
            page.goto(f"{live_url}{path}")
            page.wait_for_load_state("networkidle")
            screenshot(page, "dark-" + (path.split("?")[0].strip("/").replace("/", "-") or "overview"))
        assert problems == [], problems
    finally:
        context.close()


# allauth's pages for a signed-in user, restyled (templates/account/*, templates/mfa/*).
ACCOUNT_PAGES = [
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/reauthenticate/",
    "/accounts/logout/",
    "/accounts/2fa/",
]
# Every visible input of an account page is one of the app's fields (label, help, error).
LOOSE_INPUTS = """() => [...document.querySelectorAll('main input:not([type=hidden])')]
    .filter(i => !i.closest('.field')).map(i => i.name)"""


def test_account_pages_use_the_apps_forms_in_every_theme(chromium, live_url, analyst):
    shots = {
        "light": {"viewport": {"width": 1360, "height": 900}},
        "dark": {"viewport": {"width": 1360, "height": 900}, "color_scheme": "dark"},
        "mobile": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    }
    for theme, options in shots.items():
        context = chromium.new_context(**options)
        page = context.new_page()
        problems = []
        page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
        try:
            log_in(page, live_url, analyst)
            wide = {}
            for path in ACCOUNT_PAGES:
                page.goto(f"{live_url}{path}")
                _styled(page)
                expect(page.locator("main .card h1, main .page-head h1").first).to_be_visible()
                assert page.evaluate(LOOSE_INPUTS) == [], path
                if not page.evaluate(NO_SIDEWAYS_SCROLL):
                    wide[path] = page.evaluate(WIDE_ELEMENTS)
                screenshot(page, f"{theme}-account-" + path.strip("/").replace("/", "-"))
            assert wide == {}, wide
            assert problems == [], problems
        finally:
            context.close()


def test_password_change_and_a_new_address_through_the_styled_forms(page, live_url, analyst):
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/accounts/password/change/")
    page.fill("input[name=oldpassword]", PASSWORD)
    page.fill("input[name=password1]", "short")
    page.fill("input[name=password2]", "short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".field.has-error .error").first).to_be_visible()  # next to its field

    page.fill("input[name=oldpassword]", PASSWORD)
    page.fill("input[name=password1]", "n3w-Secret-pass!")
    page.fill("input[name=password2]", "n3w-Secret-pass!")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".messages")).to_contain_text("Password successfully changed")

    page.goto(f"{live_url}/accounts/email/")
    page.locator("input[type=email][name=email]").fill("second@example.org")
    page.get_by_role("button", name="Add address").click()
    expect(page.locator(".email-list")).to_contain_text("second@example.org")
    screenshot(page, "account-email-added")
    assert not page.problems, page.problems
