"""Helpers for the browser tests (fixtures are in conftest.py)."""

from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

PASSWORD = "correct-horse-battery"  # what tests/conftest.py's user_factory sets


def log_in(page, live_url: str, user, password: str = PASSWORD) -> None:
    """Sign in through allauth's login form, as a person would."""
    page.goto(f"{live_url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", password)
    page.locator("form", has=page.locator("input[name=password]")).locator("button[type=submit]").click()
    page.wait_for_url(f"{live_url}/")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_status(task_id, statuses: set[str], timeout: float = 60.0) -> str:
    """Poll the database until the task reaches one of `statuses`; returns the status."""
    import time

    from apps.tasks.models import Task

    deadline = time.monotonic() + timeout
    while True:
        status = Task.objects.values_list("status", flat=True).get(pk=task_id)
        if status in statuses:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"task stayed {status}; expected one of {sorted(statuses)}")
        time.sleep(0.1)


def api_post(live_url: str, token: str, path: str, body: dict) -> dict:
    """POST JSON to the running server's REST API with an API token."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{live_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # our local test server
        return json.loads(response.read())


def outside_the_browser_loop(fn, **kwargs):
    """Run a service from another thread. Playwright's sync API keeps an event loop running in the
    test's thread, where async_to_sync (the websocket broadcast after commit) refuses to run."""
    import threading

    from django.db import connection

    outcome = {}

    def work() -> None:
        try:
            outcome["value"] = fn(**kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
