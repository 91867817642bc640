"""Agent reports on a task's page, in Chromium: the real agents (forensics, analysis, ml, osint,
security and the aggregator) run on a real Celery worker, against a CSV upload and against local
DNS, RDAP and web servers standing in for the internet. One worker and one pair of tasks for
the whole module: the checks below all read the same two finished task pages."""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from playwright.sync_api import expect

from apps.tasks import services
from apps.tasks.models import Result
from tests.agents.servers import Reply, dns_server, http_server
from tests.agents.test_osint_agent import RDAP_DOMAIN
from tests.ui.browser import log_in, outside_the_browser_loop, screenshot, wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE = """
example.org. 300 IN A 93.184.216.34
example.org. 300 IN MX 10 mail.example.org.
example.org. 300 IN TXT "v=spf1 mx -all"
_dmarc.example.org. 300 IN TXT "v=DMARC1; p=quarantine"
shop.example.org. 300 IN A 127.0.0.1
"""

# Text that only JSON has: an opening brace or bracket before a quoted key, or "key": value.
JSON_LIKE = re.compile(r'[\[{]\s*"|"\s*:\s*["\[{\d]')

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# The innermost elements that stick out to the right of the viewport, to say what to fix.
WIDE_ELEMENTS = """
() => {
  const width = document.documentElement.clientWidth + 1;
  const sticksOut = el => el.getBoundingClientRect().right > width;
  // Text wider than its own box (a long hash in a paragraph) does not move the box's edge.
  const spills = el => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible';
  return [...document.querySelectorAll('body *')]
    .filter(el => (sticksOut(el) && el.parentElement && !sticksOut(el.parentElement))
                  || (spills(el) && ![...el.children].some(spills)))
    .slice(0, 8)
    .map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).replace(/ /g, '.') : '')
               + ' ' + Math.round(el.getBoundingClientRect().right)
               + ' ' + (el.textContent || '').trim().slice(0, 40));
}
"""


def _table_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "requests", "errors", "latency_ms", "region"])
    for i in range(80):
        spike = 40 if i == 57 else 0
        writer.writerow(
            [
                f"2026-03-{1 + i % 28:02d}",
                1000 + (i * 37) % 200,
                3 + i % 5 + spike,
                120 + (i * 13) % 40 + spike * 30,
                ("eu", "us", "ap")[i % 3],
            ]
        )
    return out.getvalue().encode()


@pytest.fixture
def finished_tasks(celery_worker, analyst):
    """A file task (forensics, analysis, ml) and a domain task (osint, security), both finished."""
    rdap = {"/domain/example.org": Reply.json(RDAP_DOMAIN, content_type="application/rdap+json")}
    shop = {"/": Reply.html("<title>Shop</title>", [("Server", "nginx/1.25.3")])}
    with (
        dns_server(ZONE) as (resolver, _),
        http_server(rdap) as rdap_server,
        http_server(shop) as shop_server,
        override_settings(
            AMAS_EGRESS_ALLOWLIST=["127.0.0.1"],
            AMAS_EGRESS_RESOLVERS=[resolver],
            AMAS_DNS_RESOLVERS_ALLOWED=[resolver],
        ),
    ):
        # One task per file agent: steps of one task running side by side can deadlock on the
        # task row (seen with analysis next to forensics; reported, not ours to fix here).
        file_tasks = [
            outside_the_browser_loop(
                services.task_create,
                user=analyst,
                title=f"Traffic export ({agent})",
                task_type="custom",
                agents=[agent],
                parameters={"ml": {"mode": "clustering"}} if agent == "ml" else {},
                files=[SimpleUploadedFile("traffic.csv", _table_csv(), content_type="text/csv")],
            )
            for agent in ("forensics", "analysis", "ml")
        ]
        domain_task = outside_the_browser_loop(
            services.task_create,
            user=analyst,
            title="example.org",
            task_type="custom",
            target="example.org",
            agents=["osint", "security"],
            parameters={
                "osint": {"resolvers": [resolver], "rdap_base_url": rdap_server.url("").rstrip("/")},
            },
        )
        for task in (*file_tasks, domain_task):
            status = wait_for_status(task.pk, {"completed", "failed"}, timeout=300)
            steps = list(task.steps.values_list("agent_type", "status", "error_message"))
            assert status == "completed", steps
        del shop_server
    return file_tasks, domain_task


def test_every_agent_reads_as_a_report(chromium, live_url, finished_tasks, analyst):
    file_tasks, domain_task = finished_tasks
    forensics_task, analysis_task, ml_task = file_tasks
    pages = [
        (forensics_task, "forensics"),
        (analysis_task, "analysis"),
        (ml_task, "ml"),
        (domain_task, "domain"),
    ]
    agents = set(Result.objects.values_list("agent", flat=True))
    assert agents >= {"forensics", "analysis", "ml", "osint", "security", "aggregator"}, agents

    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    problems = _watch(page)
    images = []
    page.on(
        "response",
        lambda r: "/image" in r.url and images.append((r.status, r.headers.get("content-type"))),
    )
    try:
        log_in(page, live_url, analyst)
        for task, name in pages:
            page.goto(f"{live_url}/tasks/{task.pk}/")
            expect(page.locator("[data-live-state]")).to_have_text("● live")
            reports = page.locator("article.report")
            for result in Result.objects.filter(task=task):
                article = page.locator(f"article.report[data-agent='{result.agent}']")
                expect(article).to_have_count(1)
                # Verdict/coverage come before everything else the report says.
                if result.data.get("coverage"):
                    expect(article.locator("[data-coverage]")).to_be_visible()
                if result.data.get("generated_by"):
                    # The aggregate's text is the task's summary: labelled there, not repeated.
                    where = page.locator("[data-summary-card]") if result.agent == "aggregator" else article
                    expect(where.locator("[data-generated-by]").first).to_contain_text(
                        result.data["generated_by"][0]["provider"]
                    )
            # No JSON anywhere in a report outside its raw-JSON disclosure.
            texts = reports.locator("[data-report-section]").all_inner_texts()
            leaks = [m.group(0) for t in texts for m in [JSON_LIKE.search(t)] if m]
            assert not leaks, leaks
            expect(page.locator("details.raw pre").first).to_be_hidden()
            screenshot(page, f"report-{name}")

        # Forensics: verdict first, hashes in copyable blocks.
        page.goto(f"{live_url}/tasks/{forensics_task.pk}/")
        forensics = page.locator("article.report[data-agent='forensics']")
        expect(forensics.locator("[data-verdict]")).to_have_text("clean")
        assert forensics.locator("code.hash").count() >= 4  # md5, sha1, sha256, sha512
        # Analysis and ML: their charts load as PNG images.
        for task, least in ((analysis_task, 2), (ml_task, 1)):
            page.goto(f"{live_url}/tasks/{task.pk}/")
            charts = page.locator("img[data-chart]")
            assert charts.count() >= least
            for img in charts.all():
                img.scroll_into_view_if_needed()
                expect(img).to_have_js_property("complete", True)
                assert img.evaluate("i => i.naturalWidth") > 50
        assert images and all(s == 200 and t == "image/png" for s, t in images), images

        # Security: a risk line and findings by severity.
        page.goto(f"{live_url}/tasks/{domain_task.pk}/")
        security = page.locator("article.report[data-agent='security']")
        expect(security.locator("[data-verdict]")).to_contain_text("risk")
        expect(security.locator("ol.findings li").first).to_be_visible()

        # Printing: no navigation, no raw JSON.
        page.emulate_media(media="print")
        expect(page.locator(".site-header")).to_be_hidden()
        expect(page.locator("details.raw").first).to_be_hidden()
        page.pdf(path=str(screenshot.__globals__["SCREENSHOTS"] / "report-domain.pdf"))
        page.emulate_media(media="screen")
        assert not problems, problems
    finally:
        context.close()

    # Dark and a 390 px phone: no sideways scroll, readable.
    for label, options in (
        ("dark", {"color_scheme": "dark", "viewport": {"width": 1360, "height": 900}}),
        ("mobile", {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}),
    ):
        context = chromium.new_context(**options)
        page = context.new_page()
        problems = _watch(page)
        try:
            log_in(page, live_url, analyst)
            for task, name in pages:
                page.goto(f"{live_url}/tasks/{task.pk}/")
                expect(page.locator("article.report").first).to_be_visible()
                if label == "mobile":
                    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE_ELEMENTS)
                screenshot(page, f"report-{name}-{label}")
            assert not problems, problems
        finally:
            context.close()


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text} {m.location}"))
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    return problems
