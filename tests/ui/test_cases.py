"""Case work in a real browser (Debian's Chromium through Playwright) against daphne, a real
Celery worker running the tasks and the investigation's websocket keeping its page live:
create an investigation, run a playbook in it, follow an entity up, comment with a mention, tag
it, export STIX; refused input shown at its field; light, dark and 390 px screenshots without
sideways scrolling."""

import re

import pytest
import stix2
from playwright.sync_api import expect

from apps.cases.models import Comment, Investigation
from apps.cases.playbooks import playbook_create
from apps.cases.services import investigation_add_task, investigation_create
from apps.users.models import Role
from tests.tasks.factories import make_task
from tests.ui.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CASE_URL = re.compile(r"/investigations/[0-9a-f-]{36}/$")
WAIT = 30_000  # ms: the machine is shared; nothing here asserts a timing
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture
def echo_playbook(user_factory):
    admin = user_factory(role=Role.ADMIN)
    return playbook_create(
        user=admin,
        name="echo",
        task_type="custom",
        agents=["test_echo"],
        parameters={"test_echo": {"words": 1}},
    )


def test_an_investigation_from_creation_to_stix_export(
    page, live_url, celery_worker, analyst, user_factory, echo_playbook, tmp_path
):
    colleague = user_factory(email="colleague@example.org")
    log_in(page, live_url, analyst)
    page.get_by_role("link", name="Investigations").first.click()
    expect(page.locator("h1")).to_have_text("Investigations", timeout=WAIT)
    page.get_by_role("link", name="New investigation").click()
    page.get_by_label("Title").fill("Phishing wave")
    page.get_by_label("Tags").fill("phishing")
    page.get_by_role("button", name="Create investigation").click()
    page.wait_for_url(CASE_URL)
    case = Investigation.objects.get(title="Phishing wave")
    expect(page.locator("[data-live-state]")).to_have_text("● live", timeout=WAIT)
    page.evaluate("window.__sameDocument = true")

    # run the playbook in it: the task appears and completes while we watch (the websocket)
    form = page.locator("[data-case-task-form]")
    form.get_by_label("Playbook").select_option("echo")
    form.get_by_label("Target").fill("example.org")
    form.get_by_role("button", name="Submit task").click()
    row = page.locator("#case-tasks tbody tr")
    expect(row).to_have_count(1, timeout=WAIT)
    expect(row.locator("[data-task-badge]")).to_have_text("completed", timeout=60_000)
    expect(page.locator("#case-timeline")).to_contain_text("task.completed", timeout=WAIT)
    expect(page.locator("#case-timeline")).to_contain_text("added task echo v1: example.org", timeout=WAIT)

    # an entity the task found, followed up: a second task with its origin kept
    entity = page.locator('#case-entities tr[data-entity="domain:example.org"]')
    expect(entity).to_be_visible(timeout=30_000)
    entity.get_by_role("button", name=re.compile("Investigate")).click()
    expect(page.locator("#case-tasks tbody tr")).to_have_count(2, timeout=WAIT)
    expect(page.locator("#case-timeline")).to_contain_text("follow-up of domain example.org", timeout=WAIT)

    # a comment with a mention, and a tag
    page.locator("#id_body").fill("@colleague@example.org this one is yours")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("#case-comments .comment")).to_contain_text("this one is yours", timeout=WAIT)
    expect(page.locator("#case-comments .mention")).to_have_text(colleague.email, timeout=WAIT)
    expect(page.locator("#case-timeline")).to_contain_text(f"mentioning {colleague.email}", timeout=WAIT)
    page.get_by_label("Add a tag").fill("apt:29")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator("[data-case-tags]")).to_contain_text("apt:29", timeout=WAIT)
    assert list(Comment.objects.get(investigation=case).mentions.all()) == [colleague]
    assert page.evaluate("window.__sameDocument") is True  # all of it without a reload
    screenshot(page, "investigation-detail")

    # the STIX export downloads a bundle the OASIS library accepts
    with page.expect_download() as download:
        page.locator("[data-stix-export]").click()
    path = tmp_path / "case.json"
    download.value.save_as(path)
    bundle = stix2.parse(path.read_text(), allow_custom=True)
    assert "example.org" in {o.get("value") for o in bundle.objects}

    # the list finds it by tag and by the comment's words
    page.goto(f"{live_url}/investigations/?tag=apt:29")
    expect(page.locator("#case-results tbody tr")).to_have_count(1, timeout=WAIT)
    page.get_by_label("Search").fill("yours")
    expect(page.locator("#case-results")).to_contain_text("Phishing wave", timeout=WAIT)
    screenshot(page, "investigation-list")
    assert not page.problems, page.problems


def test_refused_input_is_shown_at_its_field(page, live_url, analyst, echo_playbook, tmp_path):
    case = investigation_create(user=analyst, title="Red case")
    investigation_add_task(
        investigation=case,
        task=make_task(analyst.organization, user=analyst, classification="red"),
        by=analyst,
    )
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/investigations/{case.pk}/")

    page.locator("#case-edit select[name=classification]").select_option("green")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_classification_error")).to_contain_text("below the TLP of a task", timeout=WAIT)
    expect(page.locator("#case-edit select[name=classification]")).to_have_attribute(
        "aria-invalid", "true", timeout=WAIT
    )

    page.locator("#id_body").fill("x" * 10_001)
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("#id_body_error")).to_contain_text("the limit is 10000", timeout=WAIT)

    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "bundle", "objects": [{"type": "domain-name", "spec_version": "2.1"}]}')
    page.get_by_label("STIX 2.1 bundle (JSON)").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#id_bundle_error")).to_contain_text("objects[0]", timeout=WAIT)

    page.goto(f"{live_url}/tasks/new/?playbook=nope")
    expect(page.locator("#id_playbook_error")).to_contain_text(
        "No active playbook named 'nope'", timeout=WAIT
    )
    page.get_by_label("Playbook").select_option("echo")
    expect(page.locator("input[name=agents][value=test_echo]")).to_be_checked(timeout=WAIT)
    expect(page.locator("#id_param-test_echo-words")).to_have_value("1", timeout=WAIT)
    assert Comment.objects.count() == 0 and Investigation.objects.get(pk=case.pk).classification == "red"
    # the refusals were 422s (expected); nothing else went wrong in the page
    unexpected = [p for p in page.problems if not p.startswith("422 ")]
    assert not unexpected, unexpected


def test_light_dark_and_phone_screenshots_without_sideways_scroll(chromium, live_url, analyst, echo_playbook):
    case = investigation_create(
        user=analyst, title="A case with a rather long title to wrap on a phone", tags=["a", "b"]
    )
    investigation_add_task(
        investigation=case, task=make_task(analyst.organization, user=analyst, title="t"), by=analyst
    )
    pages = {
        "list": "/investigations/",
        "detail": f"/investigations/{case.pk}/",
        "playbook": "/playbooks/echo/?target=example.org&classification=amber",
    }
    for name, options in {
        "light": {"viewport": {"width": 1360, "height": 900}},
        "dark": {"viewport": {"width": 1360, "height": 900}, "color_scheme": "dark"},
        "mobile": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    }.items():
        context = chromium.new_context(**options)
        try:
            page = context.new_page()
            errors = []
            page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            log_in(page, live_url, analyst)
            for label, url in pages.items():
                page.goto(f"{live_url}{url}")
                if label == "detail":
                    expect(page.locator("[data-live-state]")).to_have_text("● live", timeout=WAIT)
                assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{label} scrolls sideways ({name})"
                screenshot(page, f"investigation-{label}-{name}")
            assert not errors, errors
        finally:
            context.close()
