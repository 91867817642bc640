"""The Security agent: how exposed a URL, host or IP is, and which secrets a text or code leaks.
TLS inspection and header grading for any target; exposure checks and port checks only on
targets an admin authorised; secret scanning for text. Every finding has a severity, evidence and
a remediation line; the result carries an overall risk score."""

from __future__ import annotations

import ssl
from typing import Any, ClassVar, cast

from pydantic import Field

from apps.agents.attribution import generated_by
from apps.agents.base import Agent, AgentContext, AgentParams, AgentResult
from apps.agents.coverage import Coverage, describe
from apps.agents.netintel.exposure import DEFAULT_PORTS, directory_listing, exposure_checks, port_checks
from apps.agents.netintel.findings import by_severity, finding, risk
from apps.agents.netintel.graph import GraphBuilder
from apps.agents.netintel.headers_grade import grade_headers, server_banner_findings
from apps.agents.netintel.narrative import narrate
from apps.agents.netintel.secrets import RULES, scan_secrets
from apps.agents.netintel.tls_inspect import inspect_tls
from apps.agents.netintel.webpage import headers_dict
from apps.agents.targets import Target, parse_target
from apps.core.egress import EgressError, EgressRefused, egress_get, probing_authorisation, resolve_checked


class SecurityParams(AgentParams):
    ADMIN_ONLY: ClassVar[frozenset[str]] = frozenset({"ca_bundle"})  # a path on the worker: the admin's

    ca_bundle: str = Field("", description="CA bundle (PEM path) that decides trust; empty: the system's.")
    tls_timeout: float = Field(10.0, gt=0, le=60)
    fetch_timeout: float = Field(15.0, gt=0, le=120)
    max_page_bytes: int = Field(2_000_000, gt=0, le=50_000_000)
    expiry_warning_days: int = Field(30, ge=0, le=365)
    ports: list[int] = Field(default_factory=lambda: list(DEFAULT_PORTS))
    port_timeout: float = Field(1.5, gt=0, le=10)
    exposure_paths: list[str] = Field(default_factory=lambda: ["/.git/HEAD", "/.env"])
    entropy_threshold: float = Field(3.5, ge=0, le=8)
    scan_page_for_secrets: bool = True
    narrative: bool = True


class SecurityAgent(Agent):
    type = "security"
    label = "Security"
    description = "TLS, security headers, exposure and port checks (authorised targets), and secret scanning."
    capabilities = frozenset(
        {"tls-inspection", "header-grading", "exposure-checks", "port-checks", "secret-scanning"}
    )
    task_types = frozenset({"security_scan"})
    target_kinds = frozenset({"url", "domain", "hostname", "ip", "text"})
    Params = SecurityParams
    default_timeout_seconds = 600

    def check_health(self, params: SecurityParams) -> tuple[bool, str]:  # type: ignore[override]
        if params.ca_bundle:
            try:
                ssl.create_default_context(cafile=params.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                return False, f"CA bundle {params.ca_bundle} cannot be loaded: {exc}"
        return True, f"{len(RULES)} secret rules compiled; {len(params.ports)} ports in the check list"

    def run(self, ctx: AgentContext) -> AgentResult:
        return _Assessment(ctx, cast(SecurityParams, ctx.parameters)).run()  # validated by Params


class _Assessment:
    def __init__(self, ctx: AgentContext, params: SecurityParams) -> None:
        self.ctx = ctx
        self.params = params
        self.task_id = ctx.task.id
        self.findings: list[dict[str, Any]] = []
        self.errors: list[dict[str, str]] = []
        self.data: dict[str, Any] = {}
        self.graph = GraphBuilder()
        self.coverage = Coverage()

    def run(self) -> AgentResult:
        target = parse_target(self.ctx.task.target)
        # Text is never echoed: it may be the very secrets the scan reports masked.
        shown = f"text of {len(target.value)} characters" if target.kind == "text" else target.value
        self.data["target"] = {"value": shown, "kind": target.kind}
        if target.kind in ("url", "domain", "hostname", "ip"):
            self.network(target)
        texts = [(self.ctx.task.target, "target")] if target.kind == "text" else []
        if extra := (self.ctx.task.parameters or {}).get("text"):
            texts.append((str(extra), "parameters.text"))
        for text, source in texts:
            self.secrets(text, source)
        self.ctx.progress(95, "scoring")
        self.findings = by_severity(self.findings)
        raw_score, level = risk(self.findings)
        score, level = self.qualified(raw_score, level)
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        plain = self.plain_summary(target, score, level, counts)
        summary = narrate(self.ctx, plain, purpose="security", enabled=self.params.narrative)
        self.data.update(
            findings=self.findings,
            findings_by_severity=counts,
            risk_score=score,
            risk_level=level,
            errors=self.errors,
            coverage=self.coverage.as_dict(),
            narrative=summary,
            generated_by=generated_by(self.ctx),
        )
        return AgentResult(
            data=self.data, summary=summary, entities=self.graph.entities, relations=self.graph.relations
        )

    # --- network targets -------------------------------------------------------------------------

    def network(self, target: Target) -> None:
        host = target.host
        scheme = target.scheme or "https"
        port = target.port or (443 if scheme == "https" else 80)
        try:
            address = resolve_checked(host, port)
        except EgressRefused as exc:
            self.coverage.missed(f"network checks of {host}", "egress_refused", str(exc))
            self.data["refused"] = str(exc)
            self.findings.append(
                finding(
                    "info",
                    "scope",
                    "Target not checked",
                    str(exc),
                    "An admin can allow the address in the egress allowlist.",
                )
            )
            return
        except EgressError as exc:
            self.errors.append({"stage": "resolve", "error": str(exc)})
            self.coverage.missed(f"network checks of {host}", _reason(exc), str(exc))
            return
        self.data["address"] = address
        self.graph.entity("ip", address)
        if not target.host_is_ip:
            self.graph.relate(
                self.graph.entity("domain", host), "resolves_to", self.graph.entity("ip", address)
            )
        if scheme == "https":
            self.tls(host, port, address)
        base = f"{scheme}://{_netloc(host, target.port)}"
        page_url = target.value if target.kind == "url" else base + "/"
        self.headers(page_url, address)
        allowed, reason = probing_authorisation(host, address=address)
        self.data["authorised"] = {"allowed": allowed, "reason": reason}
        if not allowed:
            self.coverage.missed("exposure and port checks", "not_authorised", reason)
            skipped = {"skipped": True, "reason": reason}
            self.data["exposure"], self.data["ports"] = skipped, skipped
            self.findings.append(
                finding(
                    "info",
                    "scope",
                    "Active checks skipped",
                    reason,
                    "An admin can add the target under Authorised targets.",
                )
            )
            return
        self.ctx.check_cancelled()
        self.ctx.progress(60, "exposure checks")
        checked, found = exposure_checks(
            base,
            self.params.exposure_paths,
            address=address,
            timeout=self.params.fetch_timeout,
            task_id=self.task_id,
        )
        self.data["exposure"] = {"checked": checked}
        self.coverage.ok("exposure checks", f"{len(checked)} path(s)")
        self.findings += found
        self.ctx.check_cancelled()
        self.ctx.progress(75, "port checks")
        ports, found = port_checks(
            host, self.params.ports, address=address, timeout=self.params.port_timeout, task_id=self.task_id
        )
        self.data["ports"] = {"checked": ports, "open": [p["port"] for p in ports if p["state"] == "open"]}
        self.coverage.ok("port checks", f"{len(ports)} port(s)")
        self.findings += found

    def tls(self, host: str, port: int, address: str) -> None:
        self.ctx.check_cancelled()
        self.ctx.progress(15, f"TLS on {host}:{port}")
        try:
            info, found = inspect_tls(
                host,
                port,
                address=address,
                timeout=self.params.tls_timeout,
                ca_bundle=self.params.ca_bundle,
                task_id=self.task_id,
                expiry_warning_days=self.params.expiry_warning_days,
            )
        except (OSError, ssl.SSLError, EgressError) as exc:
            self.errors.append({"stage": "tls", "error": f"{type(exc).__name__}: {exc}"})
            self.coverage.missed(f"TLS on {host}:{port}", _reason(exc), f"{type(exc).__name__}: {exc}")
            return
        self.data["tls"] = info
        self.coverage.ok("TLS", f"{host}:{port}")
        self.findings += found

    def headers(self, url: str, address: str) -> None:
        self.ctx.check_cancelled()
        self.ctx.progress(35, f"fetching {url}")
        try:
            # Certificate problems are the TLS check's findings; headers are graded regardless.
            response = egress_get(
                url,
                task_id=self.task_id,
                timeout=self.params.fetch_timeout,
                max_bytes=self.params.max_page_bytes,
                verify=False,
                address=address,
            )
        except EgressRefused as exc:
            self.data["http"] = {"url": url, "refused": True, "reason": str(exc)}
            self.coverage.missed(f"HTTP headers of {url}", "egress_refused", str(exc))
            return
        except EgressError as exc:
            self.errors.append({"stage": "http", "error": str(exc)})
            self.coverage.missed(f"HTTP headers of {url}", _reason(exc), str(exc))
            return
        self.coverage.ok("HTTP headers", url)
        headers = headers_dict(response)
        final_https = response.url.startswith("https://")
        report, found = grade_headers(
            headers, response.headers.get_list("set-cookie"), https=final_https, url=response.url
        )
        self.data["http"] = {
            "url": url,
            "final_url": response.url,
            "status": response.status_code,
            "redirect_chain": response.redirects,
            "headers": headers,
        }
        self.data["headers"] = report
        self.findings += found + server_banner_findings(headers, response.url)
        if response.status_code == 200 and directory_listing(response.text):
            self.findings.append(
                finding(
                    "medium",
                    "exposure",
                    "Directory listing enabled",
                    f"{response.url} lists its files",
                    "Turn off directory indexes (autoindex off / Options -Indexes).",
                )
            )
        if self.params.scan_page_for_secrets and response.content:
            self.secrets(response.text, response.url)

    # --- text ------------------------------------------------------------------------------------

    def secrets(self, text: str, source: str) -> None:
        self.ctx.progress(85, "scanning for secrets")
        found, dismissed = scan_secrets(text, source=source, entropy_threshold=self.params.entropy_threshold)
        scan = self.data.setdefault("secrets", {"sources": [], "found": 0, "dismissed_low_entropy": 0})
        scan["sources"].append(source)
        scan["found"] += len(found)
        scan["dismissed_low_entropy"] += dismissed
        self.findings += found
        self.coverage.ok("secret scanning", source)

    def qualified(self, score: int, level: str) -> tuple[int | None, str]:
        """'none' stands only on complete coverage: with nothing checked the target was not
        assessed at all (no score), with gaps the assessment is incomplete."""
        if level != "none" or self.coverage.complete:
            return score, level
        if not self.coverage.checked:
            return None, "not_assessed"
        return score, "incomplete"

    def plain_summary(self, target: Target, score: int | None, level: str, counts: dict[str, int]) -> str:
        shown = "not assessed" if score is None else f"risk {score}/100 ({level.replace('_', ' ')})"
        parts = [f"{self.data['target']['value']} ({target.kind}): {shown}"]
        if self.data.get("refused"):
            parts.append("not checked: refused by the egress policy")
        if tls := self.data.get("tls"):
            state = "expired" if tls["expired"] else ("trusted" if tls["trusted"] else "untrusted")
            parts.append(
                f"TLS {tls['protocol']} certificate {state}, {tls['days_to_expiry']} days left"
                + ("" if tls["hostname_match"] else ", wrong host name")
            )
        if headers := self.data.get("headers"):
            parts.append(f"security headers grade {headers['grade']} ({headers['score']}/100)")
        exposure = self.data.get("exposure") or {}
        if exposure.get("skipped"):
            parts.append("active checks skipped (not an authorised target)")
        if ports := (self.data.get("ports") or {}).get("open"):
            parts.append("open ports " + ", ".join(map(str, ports)))
        if secrets := self.data.get("secrets"):
            parts.append(f"{secrets['found']} secret(s) found")
        if counts:
            order = ("critical", "high", "medium", "low", "info")
            parts.append("findings: " + ", ".join(f"{counts[s]} {s}" for s in order if s in counts))
        if self.errors:
            parts.append(f"{len(self.errors)} check(s) failed")
        parts.append(describe(self.coverage.as_dict()))
        return "; ".join(parts) + "."


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "could not resolve" in text:
        return "resolver_unreachable"
    return "unreachable"


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"
