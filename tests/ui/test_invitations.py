"""The invitation flow in Chromium against daphne: an admin invites a colleague on the Members page,
the colleague opens the link from the e-mail (the server's file-based outbox: the server is another
process, so Django's in-memory mail.outbox cannot see its mail), signs up with sign-up otherwise
closed, signs in with the invited role and creates an API token; the admin deactivates them, and
their token and their browser session stop working at once."""

import json
import os
import re
import urllib.error
import urllib.request
from email import message_from_string

import pytest
from playwright.sync_api import expect

from apps.users.models import Role, User
from tests.ui.browser import log_in, screenshot
from tests.users.factories import PASSWORD, enable_totp, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a-long-fresh-passphrase-42"


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory):
    """The server's mail goes to files here (EMAIL_URL=filemail://...), set before it starts."""
    directory = tmp_path_factory.mktemp("outbox")
    previous = os.environ.get("EMAIL_URL")
    os.environ["EMAIL_URL"] = f"filemail:///{directory}"  # environ drops one leading slash
    yield directory
    if previous is None:
        os.environ.pop("EMAIL_URL", None)
    else:
        os.environ["EMAIL_URL"] = previous


@pytest.fixture(scope="module")
def live_url(mail_dir, live_url):  # tests/ui/conftest.py's server, started after mail_dir
    return live_url


def _mail_to(mail_dir, address: str):
    for path in sorted(mail_dir.iterdir()):
        for raw in path.read_text().split("-" * 79):
            if raw.strip():
                message = message_from_string(raw.strip())
                if message["To"] == address:
                    return message
    raise AssertionError(f"no mail to {address} in {list(mail_dir.iterdir())}")


def _api_me(live_url: str, secret: str) -> int:
    request = urllib.request.Request(f"{live_url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # our local test server
            assert json.loads(response.read())["role"] == "analyst"
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_invite_accept_sign_in_deactivate(chromium, live_url, mail_dir, user_factory):
    admin = user_factory(role=Role.ADMIN)
    secret = enable_totp(admin)
    invitee_email = "invited.colleague@example.org"

    # The admin signs in (password and TOTP) and invites from the Members page.
    admin_context = chromium.new_context(viewport={"width": 1360, "height": 900})
    admin_context.set_default_timeout(20_000)
    admin_page = admin_context.new_page()
    admin_page.goto(f"{live_url}/accounts/login/")
    admin_page.fill("input[name=login]", admin.email)
    admin_page.fill("input[name=password]", PASSWORD)
    admin_page.locator("form", has=admin_page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    admin_page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    admin_page.fill("input[name=code]", totp_code(secret))
    admin_page.locator("form", has=admin_page.locator("input[name=code]")).locator(
        "button[type=submit]"
    ).click()
    admin_page.wait_for_url(f"{live_url}/")
    admin_page.get_by_role("link", name="Members").click()
    admin_page.wait_for_url(f"{live_url}/members/")
    admin_page.fill("#invite-email", invitee_email)
    admin_page.select_option("#invite-role", "analyst")
    admin_page.get_by_role("button", name="Send invitation").click()
    expect(admin_page.locator(".messages")).to_contain_text(f"Invitation sent to {invitee_email}")
    expect(admin_page.locator(f'[data-invitation="{invitee_email}"]')).to_contain_text("pending")
    screenshot(admin_page, "members-invited")

    # The invitee opens the link from the e-mail and signs up.
    message = _mail_to(mail_dir, invitee_email)
    link = re.search(r"http://\S+", message.get_payload()).group(0)
    assert link.startswith(f"{live_url}/accounts/signup/?invitation=")
    invitee_context = chromium.new_context(viewport={"width": 1360, "height": 900})
    invitee_context.set_default_timeout(20_000)
    page = invitee_context.new_page()
    page.goto(link)
    assert "invitation=" not in page.url  # the token left the address bar
    expect(page.locator("[data-invitation]")).to_contain_text("analyst")
    expect(page.locator("input[name=email]")).to_have_value(invitee_email)
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    screenshot(page, "invitation-signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_url}/")
    user = User.objects.get(email=invitee_email)
    assert user.organization_id == admin.organization_id and user.role == Role.ANALYST

    # Signs out, signs in again with the new password: an analyst (may create tasks, no Members).
    page.goto(f"{live_url}/accounts/logout/")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    log_in(page, live_url, user, password=NEW_PASSWORD)
    me = page.request.get(f"{live_url}/api/v1/me").json()
    assert me["role"] == "analyst" and me["organization"] == admin.organization.name
    expect(page.get_by_role("link", name="Members")).to_have_count(0)
    assert page.goto(f"{live_url}/tasks/new/").status == 200
    assert page.goto(f"{live_url}/members/").status == 403

    # Creates an API token on the tokens page; it works.
    page.goto(f"{live_url}/tokens/")
    page.fill("#token-name", "laptop")
    page.check("input[name=scopes][value='tasks:read']")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert _api_me(live_url, token) == 200

    # The admin deactivates them: the token and the browser session stop working at once.
    admin_page.goto(f"{live_url}/members/")
    admin_page.locator(f'[data-member="{invitee_email}"]').get_by_role("button", name="Deactivate").click()
    expect(admin_page.locator(".messages")).to_contain_text(f"{invitee_email} is deactivated")
    expect(admin_page.locator(f'[data-member="{invitee_email}"]')).to_contain_text("deactivated")
    screenshot(admin_page, "members-deactivated")
    assert _api_me(live_url, token) == 401
    page.goto(f"{live_url}/tasks/")
    assert "/accounts/login/" in page.url
    assert page.request.get(f"{live_url}/api/v1/me").status == 401

    admin_context.close()
    invitee_context.close()
