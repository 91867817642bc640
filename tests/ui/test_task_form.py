"""The New task form in Chromium: quiet until the user has chosen something, a file attached
counts at once, problems named in plain words next to their field, summarised at the top with
links, and the focus moved there."""

import pytest
from playwright.sync_api import expect

from apps.tasks.models import Task
from tests.ui.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_form_is_quiet_until_used_and_plans_for_an_attached_file(page, live_url, analyst, tmp_path):
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/tasks/new/")
    preview = page.locator("#plan-preview")
    expect(preview).to_contain_text("Fill in the task")
    page.wait_for_load_state("networkidle")  # the preview asked once on load: still no error
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(preview.locator(".error")).to_have_count(0)

    # A file task without the file: said in plain words, no internal names.
    page.get_by_label("Task type").select_option("file_analysis")
    expect(preview.locator(".notice.error")).to_contain_text("No agent can run")
    text = preview.inner_text()
    assert "none target" not in text and "file_analysis" not in text, text

    # Attaching the file is enough: the plan has the forensics agent before anything is sent.
    sample = tmp_path / "sample.bin"
    sample.write_bytes(b"MZ" + b"\x00" * 200)
    page.set_input_files("#id_files", str(sample))
    expect(preview.locator("[data-plan-steps]")).to_contain_text("Forensics")
    expect(preview.locator(".notice.error")).to_have_count(0)
    screenshot(page, "new-task-file")
    assert not Task.objects.exists()
    assert not page.problems, page.problems


def test_errors_are_summarised_with_links_and_get_the_focus(page, live_url, analyst):
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/tasks/new/")
    page.get_by_label("Choose agents myself").check()  # ... and none chosen
    page.get_by_label("Every N seconds").check()  # ... and no interval
    page.get_by_role("button", name="Create task").click()

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.locator("a")).to_have_count(2)
    expect(summary).to_contain_text("Choose at least one agent")
    expect(summary).to_contain_text("How many seconds between runs?")

    # Each message sits next to its field, which says it is invalid and points at the message.
    every = page.locator("#id_every_seconds")
    expect(every).to_have_attribute("aria-invalid", "true")
    expect(every).to_have_attribute("aria-describedby", "id_every_seconds_error")
    expect(page.locator("#id_every_seconds_error")).to_contain_text("How many seconds")

    # A link in the summary takes the focus to its field.
    summary.get_by_role("link", name="How many seconds").click()
    expect(every).to_be_focused()
    screenshot(page, "new-task-errors")
    assert not Task.objects.exists()
    # The 422 of the invalid form is expected; nothing else went wrong.
    assert [p for p in page.problems if not p.startswith("422 ")] == [], page.problems
