"""In a real browser (Debian's Chromium through Playwright, against the live server): sign in,
enable TOTP from the secret the page shows, sign out, sign in with password + TOTP, a wrong code
is refused, and a recovery code works exactly once. No page violates the CSP."""

import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import override_settings
from playwright.sync_api import sync_playwright

from apps.audit.models import AuditEvent
from apps.users.models import Role
from tests.users.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _codes(secret: str) -> set[str]:
    now = int(time.time()) // 30
    return {format_hotp_value(hotp_value(secret, now + i)) for i in (-1, 0, 1)}


@pytest.fixture
def browser():
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.csp_violations = []
    page.on(
        "console",
        lambda msg: page.csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield page
    page.goto("about:blank")  # stop the dashboard's polling before the server goes away
    context.close()


def _sign_in(page, base, email):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def _sign_out(page, base):
    page.goto(f"{base}/accounts/logout/")
    page.click("main form button[type=submit], form button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url or page.url.rstrip("/") == base


def _second_factor(page, code):
    assert "/accounts/2fa/authenticate/" in page.url, page.url
    page.fill("input[name=code]", code)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


# Sign-in uses this period's code once; tolerance 1 lets the next sign-in use the next period's
# code instead of waiting up to 30 s for a fresh one.
@override_settings(MFA_TOTP_TOLERANCE=1)
def test_totp_enrolment_and_sign_in_with_recovery_codes(live_server, page, user_factory):
    base = live_server.url
    user = user_factory(role=Role.ANALYST)

    _sign_in(page, base, user.email)
    assert "/accounts/login/" not in page.url

    # Enrol: read the secret the page shows and answer with a code computed from it.
    page.goto(f"{base}/accounts/2fa/totp/activate/")
    # Adding a factor is sensitive: allauth asks for the password again first.
    assert "/accounts/reauthenticate/" in page.url, page.url
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/2fa/totp/activate/" in page.url, page.url
    secret = page.locator("#authenticator_secret").inner_text().strip()
    assert len(secret) >= 16
    now = int(time.time()) // 30
    page.fill("input[name=code]", format_hotp_value(hotp_value(secret, now)))
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    if "/accounts/reauthenticate/" in page.url:  # allauth may confirm the password again here
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
    assert "/accounts/2fa/recovery-codes/" in page.url, page.url
    recovery = [code.strip() for code in page.locator("#recovery_codes li").all_inner_texts()]
    assert len(recovery) == 10
    _sign_out(page, base)

    # Password alone is not enough any more; a wrong code is refused.
    _sign_in(page, base, user.email)
    wrong = next(c for c in ("000000", "123456", "999999") if c not in _codes(secret))
    _second_factor(page, wrong)
    assert "/accounts/2fa/authenticate/" in page.url
    assert page.locator("text=Incorrect code").count() >= 1
    _second_factor(page, format_hotp_value(hotp_value(secret, int(time.time()) // 30 + 1)))
    assert "/accounts/" not in page.url, page.url
    _sign_out(page, base)

    # A recovery code works once...
    _sign_in(page, base, user.email)
    _second_factor(page, recovery[0])
    assert "/accounts/" not in page.url, page.url
    _sign_out(page, base)
    # ... and never again.
    _sign_in(page, base, user.email)
    _second_factor(page, recovery[0])
    assert "/accounts/2fa/authenticate/" in page.url
    _second_factor(page, recovery[1])
    assert "/accounts/" not in page.url

    assert AuditEvent.objects.filter(event_type="mfa.added", actor=user).count() == 2  # TOTP + codes
    failures = AuditEvent.objects.filter(event_type="auth.login_failed", entity_id=str(user.pk))
    assert {e.changes["stage"] for e in failures} == {"mfa"}
    assert failures.count() == 2
    assert page.csp_violations == []
