"""The dashboard in a real browser (Debian's Chromium through Playwright) against daphne, with a
real Celery worker running the tasks and the websockets carrying their events."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.tasks import services
from apps.tasks.models import Result, Task, TaskEvent, TaskStep
from apps.tasks.stats import stats_refresh
from apps.users.models import Role
from tests.ui.browser import api_post, log_in, outside_the_browser_loop, screenshot, wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/tasks/[0-9a-f-]{36}/$")

# Records every status the task's badge shows, across htmx re-renders of its section.
WATCH_STATUS = """
() => {
  window.__statuses = [];
  const note = () => {
    const badge = document.getElementById("task-status");
    const text = badge && badge.textContent.trim();
    if (text && window.__statuses[window.__statuses.length - 1] !== text) window.__statuses.push(text);
  };
  note();
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def test_submit_a_task_with_a_file_and_watch_it_complete(page, live_url, celery_worker, analyst, tmp_path):
    log_in(page, live_url, analyst)
    expect(page.locator("h1")).to_have_text("Overview")
    page.get_by_role("link", name="New task").first.click()
    expect(page).to_have_title("New task · AMAS")

    # Automatic agent choice: the decision engine's plan and reasons show before submitting.
    page.get_by_label("Target").fill("example.org")
    expect(page.locator("#plan-preview")).to_contain_text("on a domain target")
    expect(page.locator("#plan-preview [data-plan-steps]")).to_be_visible()
    expect(page.locator("#plan-preview")).to_contain_text("Why")
    screenshot(page, "new-task")

    page.get_by_label("Task type").select_option("custom")
    page.get_by_label("Choose agents myself").check()
    page.locator("input[name=agents][value=test_slow]").check()  # two test agents are labelled "Slow"
    page.locator("details[data-agent-params=test_slow] summary").click()
    page.locator("#id_param-test_slow-seconds").fill("3")
    attachment = tmp_path / "notes.txt"
    attachment.write_text("example.org was seen in the logs")
    page.set_input_files("#id_files", str(attachment))
    page.get_by_role("button", name="Create task").click()

    page.wait_for_url(TASK_URL)
    page.evaluate(WATCH_STATUS)
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    expect(page.locator("#task-status")).to_have_text("completed", timeout=60_000)
    statuses = page.evaluate("window.__statuses")
    assert statuses[-1] == "completed" and len(statuses) >= 2, statuses  # it moved while we watched
    assert page.evaluate("window.__sameDocument") is True  # ... without a reload
    expect(page.locator("#timeline")).to_contain_text("task.completed")
    expect(page.locator("#task-results")).to_contain_text("done sleeping")
    expect(page.locator("#task-results")).to_contain_text("notes.txt")
    expect(page.locator("[data-step-id] [data-step-status]").first).to_have_text("completed")

    task = Task.objects.get(created_by=analyst)
    assert task.status == "completed"
    assert task.parameters == {"test_slow": {"seconds": 3.0}}
    assert [a.original_name for a in task.artefacts.all()] == ["notes.txt"]
    screenshot(page, "task-detail")
    assert not page.problems, page.problems


def test_cancel_a_long_task_from_its_page(page, live_url, celery_worker, analyst):
    task = outside_the_browser_loop(
        services.task_create,
        user=analyst,
        title="A long sleep",
        task_type="custom",
        agents=["test_slow"],
        parameters={"test_slow": {"seconds": 120}},
    )
    log_in(page, live_url, analyst)
    page.goto(f"{live_url}/tasks/{task.pk}/")
    expect(page.locator("#task-status")).to_have_text("running", timeout=30_000)
    expect(page.locator("#timeline")).to_contain_text("step.progress")

    page.get_by_role("button", name="Cancel task").click()
    expect(page.locator("#task-status")).to_have_text("cancelled")
    expect(page.locator("[data-step-id] [data-step-status]").first).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Retry task")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel task")).to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("task.cancelled")
    assert wait_for_status(task.pk, {"cancelled"}) == "cancelled"
    assert task.steps.get().status == "cancelled"
    screenshot(page, "task-cancelled")
    assert not page.problems, page.problems


def test_the_monitor_shows_events_of_a_task_submitted_through_the_api(page, live_url, celery_worker, analyst):
    from apps.users.services import token_create

    token = token_create(user=analyst, name="browser test", scopes=["tasks:read", "tasks:write"]).secret
    log_in(page, live_url, analyst)
    page.get_by_role("link", name="Monitor").click()
    expect(page).to_have_title("Monitor · AMAS")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    feed = page.locator("#monitor-feed")

    first = api_post(
        live_url,
        token,
        "/api/v1/tasks",
        {"title": "From the API", "task_type": "custom", "agents": ["test_echo"]},
    )
    expect(feed.locator("li[data-type='task.created']")).to_contain_text("From the API")
    done = feed.locator(f"li[data-type='task.completed'][data-task-id='{first['id']}']")
    expect(done).to_have_count(1, timeout=60_000)
    expect(feed.locator(f"li[data-type='step.started'][data-task-id='{first['id']}']")).to_have_count(1)

    # Paused: events are held back, then shown on resume.
    page.get_by_role("button", name="Pause").click()
    shown = feed.locator("li").count()
    second = api_post(
        live_url,
        token,
        "/api/v1/tasks",
        {"title": "While paused", "task_type": "custom", "agents": ["test_echo"]},
    )
    expect(page.locator("#monitor-held")).to_contain_text("held while paused")
    assert wait_for_status(second["id"], {"completed"}) == "completed"
    assert feed.locator("li").count() == shown
    page.get_by_role("button", name="Resume").click()
    expect(feed.locator(f"li[data-type='task.completed'][data-task-id='{second['id']}']")).to_have_count(1)

    # Filtered: only the tasks' status changes stay visible.
    page.get_by_label("Events", exact=True).select_option("task")
    expect(feed.locator("li[data-type^='step.']:visible")).to_have_count(0)
    expect(feed.locator("li[data-type^='task.']:visible").first).to_be_visible()
    page.get_by_label("Events", exact=True).select_option("")
    screenshot(page, "monitor")
    assert not page.problems, page.problems


def test_filters_narrow_the_rows_without_reloading(page, live_url, analyst):
    for title, status in (("Alpha report", "completed"), ("Beta scan", "failed"), ("Gamma sweep", "queued")):
        Task.objects.create(
            title=title,
            task_type="custom",
            status=status,
            organization=analyst.organization,
            created_by=analyst,
        )
    log_in(page, live_url, analyst)
    page.get_by_role("link", name="Tasks", exact=True).click()
    rows = page.locator("#task-results tbody tr[data-task-row]")
    expect(rows).to_have_count(3)
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Search").fill("beta")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Beta scan")
    expect(page).to_have_url(re.compile(r"[?&]q=beta"))
    page.get_by_label("Search").fill("")
    expect(rows).to_have_count(3)
    page.get_by_label("Status").select_option("completed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alpha report")
    assert page.evaluate("window.__sameDocument") is True
    assert not page.problems, page.problems


def test_a_viewer_sees_no_new_task_button_and_is_refused_the_form(page, live_url, user_factory):
    viewer = user_factory(role=Role.VIEWER)
    log_in(page, live_url, viewer)
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.get_by_role("link", name="New task")).to_have_count(0)
    page.get_by_role("link", name="Tasks", exact=True).click()
    expect(page.locator("h1")).to_have_text("Tasks")
    expect(page.get_by_role("link", name="New task")).to_have_count(0)

    response = page.goto(f"{live_url}/tasks/new/")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("not create them")

    status, text = page.evaluate(POST_NEW_TASK)
    assert status == 403 and "not create them" in text
    assert not Task.objects.exists()


# Posts the New task form with a valid CSRF token, as a hand-made form would.
POST_NEW_TASK = """
async () => {
  const headers = JSON.parse(document.body.getAttribute("hx-headers"));
  const body = new FormData();
  for (const [k, v] of Object.entries({task_type: "investigation", target: "example.org", priority: "5",
                                       classification: "amber", agent_mode: "auto", schedule: "once"})) {
    body.append(k, v);
  }
  const response = await fetch("/tasks/new/", {method: "POST", headers, body});
  return [response.status, await response.text()];
}
"""


def test_screenshots_of_the_main_pages(page, live_url, analyst):
    """Not a behaviour check: pictures of the pages with some data, for a reviewer."""
    now = timezone.now()
    for i, status in enumerate(["completed"] * 6 + ["failed", "timed_out", "running", "queued", "cancelled"]):
        created = now - timedelta(hours=i * 2)
        Task.objects.create(
            title=f"Investigate host-{i}.example.org",
            target=f"host-{i}.example.org",
            task_type="investigation",
            status=status,
            priority=1 + i % 10,
            progress=100 if status == "completed" else 40,
            organization=analyst.organization,
            created_by=analyst,
            started_at=created,
            finished_at=created + timedelta(seconds=5 + i * 7) if status != "running" else None,
            error_message="resolver timed out" if status in ("failed", "timed_out") else "",
        )
    Task.objects.update(created_at=now)  # created_at is auto_now_add: spread it afterwards
    for i, task in enumerate(Task.objects.order_by("title")):
        Task.objects.filter(pk=task.pk).update(created_at=now - timedelta(hours=i * 2))
    stats_refresh()
    log_in(page, live_url, analyst)
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    screenshot(page, "overview")
    for name, url in (("tasks", "/tasks/"), ("agents", "/agents/"), ("providers", "/providers/")):
        page.goto(f"{live_url}{url}")
        screenshot(page, name)
    assert not page.problems, page.problems


def _finished_task_with_results(user) -> Task:
    task = Task.objects.create(
        title="Investigate example.org",
        target="example.org",
        task_type="investigation",
        status="completed",
        progress=100,
        organization=user.organization,
        created_by=user,
        summary={"text": "example.org resolves to 2 addresses; one open resolver found."},
    )
    step = TaskStep.objects.create(task=task, agent_type="test_echo", status="completed", progress=100)
    Result.objects.create(
        task=task,
        step=step,
        agent="test_echo",
        status="completed",
        summary="2 addresses, 1 finding",
        processing_time_ms=812,
        data={
            "findings": [
                {"severity": "high", "title": "Open DNS resolver", "evidence": "203.0.113.7:53"},
                {"severity": "low", "title": "No CAA record", "evidence": "example.org"},
            ],
            "record_counts": {"A": 2, "MX": 1, "TXT": 4},
            "addresses": ["203.0.113.7", "203.0.113.8"],
            "registrar": "Example Registrar",
        },
    )
    for seq, (kind, payload) in enumerate(
        [
            ("task.created", {"title": task.title}),
            ("task.queued", {}),
            ("step.started", {"agent": "test_echo"}),
            ("step.progress", {"agent": "test_echo", "progress": 50, "message": "resolving"}),
            ("step.completed", {"agent": "test_echo", "summary": "2 addresses, 1 finding"}),
            ("task.completed", {}),
        ],
        start=1,
    ):
        TaskEvent.objects.create(task=task, seq=seq, type=kind, payload=payload)
    Task.objects.filter(pk=task.pk).update(last_event_seq=6)
    return task


def test_pages_read_without_javascript_and_in_dark_mode(chromium, live_url, analyst):
    task = _finished_task_with_results(analyst)
    no_js = chromium.new_context(java_script_enabled=False, viewport={"width": 1360, "height": 900})
    try:
        page = no_js.new_page()
        log_in(page, live_url, analyst)
        page.goto(f"{live_url}/tasks/{task.pk}/")
        expect(page.locator("#task-status")).to_have_text("completed")
        expect(page.locator("#timeline li")).to_have_count(6)
        expect(page.locator(".sev-high")).to_have_text("high")
        expect(page.locator("[data-summary]")).to_contain_text("one open resolver")
        page.goto(f"{live_url}/tasks/?q=example.org")
        expect(page.locator("#task-results tbody tr[data-task-row]")).to_have_count(1)
    finally:
        no_js.close()

    dark = chromium.new_context(color_scheme="dark", viewport={"width": 1360, "height": 900})
    try:
        page = dark.new_page()
        log_in(page, live_url, analyst)
        page.goto(f"{live_url}/tasks/{task.pk}/")
        expect(page.locator("[data-live-state]")).to_have_text("● live")
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(15, 19, 23)", background  # --bg of the dark palette
        screenshot(page, "task-detail-dark")
    finally:
        dark.close()


def test_keyboard_reaches_the_skip_link_and_the_navigation(page, live_url, analyst):
    log_in(page, live_url, analyst)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.goto(f"{live_url}/tasks/new/")
    # Every form control has a label a screen reader can announce.
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
              .map(el => el.name)"""
    )
    assert unlabeled == []


def test_the_overview_updates_live(page, live_url, celery_worker, analyst):
    log_in(page, live_url, analyst)
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    completed = page.locator("[data-status-count=completed]")
    expect(completed).to_have_text("0")
    page.evaluate("window.__sameDocument = true")

    echo = {"task_type": "custom", "agents": ["test_echo"]}
    outside_the_browser_loop(services.task_create, user=analyst, title="Echo from the test", **echo)
    expect(completed).to_have_text("1", timeout=30_000)
    expect(page.locator("#overview-status")).to_contain_text("Echo from the test")
    assert page.evaluate("window.__sameDocument") is True
    assert not page.problems, page.problems


def test_events_missed_before_the_websocket_connects_fill_the_timeline(
    page, live_url, celery_worker, analyst
):
    """The page shows the events up to its render; the websocket opens only after the task has
    finished: the snapshot says so and the missing events come from the REST API, in order."""
    held = []
    page.route_web_socket(re.compile(r"/ws/tasks/"), lambda ws: held.append(ws))  # held back
    log_in(page, live_url, analyst)
    task = outside_the_browser_loop(
        services.task_create,
        user=analyst,
        title="Late socket",
        task_type="custom",
        agents=["test_slow"],
        parameters={"test_slow": {"seconds": 3}},
    )
    page.goto(f"{live_url}/tasks/{task.pk}/")
    shown_at_render = page.locator("#timeline li[data-seq]").count()
    assert wait_for_status(task.pk, {"completed"}) == "completed"
    last_seq = Task.objects.get(pk=task.pk).last_event_seq
    assert shown_at_render < last_seq

    held[0].connect_to_server()
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.locator("#timeline li[data-seq]")).to_have_count(last_seq)
    seqs = page.eval_on_selector_all("#timeline li[data-seq]", "els => els.map(e => Number(e.dataset.seq))")
    assert seqs == list(range(1, last_seq + 1))
    expect(page.locator("#task-results")).to_contain_text("done sleeping")
    assert not page.problems, page.problems


def test_list_badges_follow_the_tasks_live(page, live_url, celery_worker, analyst):
    log_in(page, live_url, analyst)
    task = outside_the_browser_loop(
        services.task_create,
        user=analyst,
        title="Watched from the list",
        task_type="custom",
        agents=["test_slow"],
        parameters={"test_slow": {"seconds": 60}},
    )
    page.goto(f"{live_url}/tasks/")
    expect(page.locator("[data-live-state]")).to_have_text("● live")
    badge = page.locator(f"#task-results [data-task-badge='{task.pk}']")
    expect(badge).to_have_text("running", timeout=30_000)
    page.evaluate("window.__sameDocument = true")
    outside_the_browser_loop(services.task_cancel, task=task, by=analyst)
    expect(badge).to_have_text("cancelled")
    assert page.evaluate("window.__sameDocument") is True
    assert not page.problems, page.problems
