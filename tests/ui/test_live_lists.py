"""Live lists in Chromium: the monitor's filter keeps a task's later events, the task list shows
tasks created elsewhere without losing the ticks, "select all N matching" acts on the filter,
and bulk actions ask before they act."""

import re

import pytest
from playwright.sync_api import expect

from apps.tasks import services
from apps.tasks.models import Task
from tests.ui.browser import log_in, outside_the_browser_loop, screenshot, wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ECHO = {"task_type": "custom", "agents": ["test_echo"]}


def test_new_tasks_appear_live_and_the_ticks_survive(page, live_url, celery_worker, analyst):
    first = Task.objects.create(
        title="Already here",
        task_type="custom",
        status="completed",
        organization=analyst.organization,
        created_by=analyst,
    )
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/tasks/")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    page.locator(f"input[name=ids][value='{first.pk}']").check()
    page.evaluate("window.__sameDocument = true")

    task = outside_the_browser_loop(services.task_create, user=analyst, title="Made elsewhere", **ECHO)
    rows = page.locator("#task-results tbody tr[data-task-row]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Made elsewhere")
    expect(page.locator(f"input[name=ids][value='{first.pk}']")).to_be_checked()
    expect(page.locator("[data-selected-count]")).to_have_text("1 selected:")
    assert page.evaluate("window.__sameDocument") is True
    wait_for_status(task.pk, {"completed"})
    assert not page.problems, page.problems


def test_new_tasks_respect_the_filters_and_the_page(page, live_url, celery_worker, analyst):
    """A filtered list inserts only matching tasks; a later page says how many are new and links
    to them instead of shifting its rows."""
    for i in range(30):
        Task.objects.create(
            title=f"Needle {i:02}",
            task_type="custom",
            status="completed",
            organization=analyst.organization,
            created_by=analyst,
        )
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/tasks/?q=needle")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    rows = page.locator("#task-results tbody tr[data-task-row]")
    expect(rows).to_have_count(25)

    hay = outside_the_browser_loop(services.task_create, user=analyst, title="Haystack", **ECHO)
    needle = outside_the_browser_loop(
        services.task_create, user=analyst, title="Needle made elsewhere", **ECHO
    )
    expect(rows.first).to_contain_text("Needle made elsewhere")
    expect(page.locator("#task-results")).not_to_contain_text("Haystack")

    page.goto(f"{live_url}/tasks/?q=needle&page=2")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    expect(rows).to_have_count(6)  # 31 matching tasks, 25 on page 1

    def shown() -> list[str]:
        # Which tasks, in which order (not their inner text: Chromium returns a row's raw text
        # instead of its rendered text while the table is re-laid out, and the rows are the point).
        return [rows.nth(i).get_attribute("data-task-row") or "" for i in range(rows.count())]

    before = shown()
    other = outside_the_browser_loop(services.task_create, user=analyst, title="Needle again", **ECHO)
    notice = page.locator("#task-news")
    expect(notice).to_contain_text("1 new task matches these filters")
    assert shown() == before  # the page did not shift under the reader
    screenshot(page, "tasks-new-notice")
    notice.get_by_role("link", name="Show the newest first").click()
    expect(rows.first).to_contain_text("Needle again")
    for task in (hay, needle, other):
        wait_for_status(task.pk, {"completed"})
    assert not page.problems, page.problems


def test_the_monitor_filter_keeps_a_tasks_later_events(page, live_url, celery_worker, analyst):
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/monitor/")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    page.get_by_label("Contains").fill("needle report")

    task = outside_the_browser_loop(services.task_create, user=analyst, title="Needle report", **ECHO)
    other = outside_the_browser_loop(services.task_create, user=analyst, title="Haystack", **ECHO)
    feed = page.locator("#monitor-feed")
    done = feed.locator(f"li[data-type='task.completed'][data-task-id='{task.pk}']")
    expect(done).to_have_count(1, timeout=60_000)
    expect(done).to_be_visible()  # a later event, without the title in it, still shows
    expect(feed.locator(f"li[data-type='step.started'][data-task-id='{task.pk}']")).to_be_visible()
    wait_for_status(other.pk, {"completed"})
    expect(feed.locator(f"li[data-task-id='{other.pk}']:visible")).to_have_count(0)
    screenshot(page, "monitor-filtered")
    assert not page.problems, page.problems


def test_bulk_actions_ask_first_and_select_all_matching_covers_every_page(page, live_url, analyst):
    for i in range(30):
        Task.objects.create(
            title=f"Queued sweep {i}",
            task_type="custom",
            status="queued",
            organization=analyst.organization,
            created_by=analyst,
        )
    Task.objects.create(
        title="Not matching",
        task_type="custom",
        status="queued",
        organization=analyst.organization,
        created_by=analyst,
    )
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/tasks/?q=sweep")
    expect(page.locator("#task-results tbody tr[data-task-row]")).to_have_count(25)

    # One tick, Cancel, and the confirmation dismissed: nothing happens.
    page.locator("#task-results input[name=ids]").first.check()
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Cancel", exact=True).click()
    assert asked == ["Cancel 1 task?"]
    assert Task.objects.filter(status="cancelled").count() == 0

    # Every task on the page, then every matching task (31 tasks, 30 match, 25 per page).
    page.locator("[data-select-all]").check()
    page.get_by_role("button", name="Select all 30 matching").click()
    expect(page.locator("[data-selected-count]")).to_have_text("All 30 matching selected:")
    screenshot(page, "tasks-select-matching")
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Cancelled 30 tasks.")
    assert asked[-1] == "Cancel 30 tasks?"
    assert Task.objects.filter(status="cancelled").count() == 30
    assert Task.objects.get(title="Not matching").status == "queued"
    expect(page).to_have_url(re.compile(r"q=sweep"))
    assert not page.problems, page.problems
