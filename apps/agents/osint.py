"""The OSINT agent: what the open internet says about a domain, host name, IP, URL, e-mail
address or a piece of text. DNS through the configured resolvers, registration data over RDAP,
pages through the egress helper, indicators from text; graph relations for what it finds."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, cast

from django.conf import settings
from pydantic import Field, field_validator

from apps.agents.attribution import generated_by
from apps.agents.base import Agent, AgentContext, AgentParams, AgentResult
from apps.agents.coverage import Coverage, describe
from apps.agents.indicators import extract_indicators, for_graph
from apps.agents.netintel import dns_records, rdap, webpage
from apps.agents.netintel.graph import INDICATOR_KINDS, GraphBuilder
from apps.agents.netintel.narrative import narrate
from apps.agents.targets import Target, parse_target
from apps.core.egress import EgressError, EgressRefused, parse_nameserver


def _normalised(server: str) -> tuple[str, int] | str:
    try:
        return parse_nameserver(server)
    except ValueError:
        return server


class OsintParams(AgentParams):
    resolvers: list[str] = Field(
        default_factory=list, description="'ip[:port]' DNS servers; empty: the system's."
    )
    dns_timeout: float = Field(3.0, gt=0, le=30)
    record_types: list[str] = Field(default_factory=lambda: list(dns_records.RECORD_TYPES))
    rdap: bool = True
    rdap_base_url: str = "https://rdap.org"
    rdap_timeout: float = Field(15.0, gt=0, le=120)
    fetch_pages: bool = True
    fetch_timeout: float = Field(15.0, gt=0, le=120)
    max_page_bytes: int = Field(2_000_000, gt=0, le=50_000_000)
    max_links: int = Field(200, ge=0, le=5000)
    ca_bundle: str = Field("", description="Extra CA bundle (PEM path) to trust when fetching pages.")
    max_indicators: int = Field(1000, ge=0)
    narrative: bool = True

    # A CA bundle is a path on the worker (a task naming one would probe its file system), and
    # resolvers send DNS wherever they point: both are the admin's. A task may pick resolvers
    # only from AMAS_DNS_RESOLVERS_ALLOWED; every resolver also passes the egress policy.
    ADMIN_ONLY: ClassVar[frozenset[str]] = frozenset({"ca_bundle"})

    @classmethod
    def task_parameters_problem(cls, values: dict[str, Any]) -> tuple[str, str] | None:
        if problem := super().task_parameters_problem(values):
            return problem
        resolvers = values.get("resolvers") or []
        allowed = {_normalised(server) for server in settings.AMAS_DNS_RESOLVERS_ALLOWED}
        for index, server in enumerate(resolvers if isinstance(resolvers, list) else []):
            if not isinstance(server, str) or _normalised(server) not in allowed:
                return f"resolvers.{index}", "is not a resolver an admin allows (AMAS_DNS_RESOLVERS_ALLOWED)"
        return None

    @field_validator("resolvers")
    @classmethod
    def _resolvers(cls, value: list[str]) -> list[str]:
        import ipaddress

        for server in value:
            address, port = parse_nameserver(server)
            ipaddress.ip_address(address)
            if not 0 < port < 65536:
                raise ValueError(f"bad port in {server!r}")
        return value

    @field_validator("record_types")
    @classmethod
    def _record_types(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(dns_records.RECORD_TYPES)
        if unknown:
            raise ValueError(f"unsupported record types: {', '.join(sorted(unknown))}")
        return value


class OsintAgent(Agent):
    type = "osint"
    label = "OSINT"
    description = (
        "DNS, registration data (RDAP), web pages and indicators for a domain, host, IP, URL, e-mail or text."
    )
    capabilities = frozenset({"dns", "rdap", "web-fetch", "indicator-extraction"})
    task_types = frozenset({"investigation"})
    target_kinds = frozenset({"domain", "hostname", "ip", "url", "email", "text"})
    Params = OsintParams
    default_timeout_seconds = 300

    def check_health(self, params: OsintParams) -> tuple[bool, str]:  # type: ignore[override]
        try:
            return dns_records.resolver_health(params.resolvers, params.dns_timeout)
        except EgressRefused as exc:
            return False, str(exc)

    def run(self, ctx: AgentContext) -> AgentResult:
        return _Investigation(ctx, cast(OsintParams, ctx.parameters)).run()  # validated by Params


class _Investigation:
    def __init__(self, ctx: AgentContext, params: OsintParams) -> None:
        self.ctx = ctx
        self.params = params
        self.task_id = ctx.task.id
        self.graph = GraphBuilder()
        self.errors: list[dict[str, str]] = []
        self.findings: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {}
        self.answered: set[str] = set()  # stages that got an answer (NXDOMAIN and 404 are answers)
        self.coverage = Coverage()

    def run(self) -> AgentResult:
        target = parse_target(self.ctx.task.target)
        self.data["target"] = {"value": target.value, "kind": target.kind}
        if target.kind in ("domain", "hostname", "url", "email") and target.host and not target.host_is_ip:
            self.dns(target.host)
            if target.kind == "email":
                self.graph.relate(
                    self.graph.entity("email", target.value), "at", self.graph.entity("domain", target.host)
                )
            if target.registrable:
                self.registration_of_domain(target.registrable)
        if target.kind == "ip" or (target.kind == "url" and target.host_is_ip):
            self.reverse(target.host)
            self.registration_of_ip(target.host)
        if target.kind == "url":
            self.page(target)
        if target.kind == "text":
            self.indicators(self.ctx.task.target, "target")
        self.ctx.progress(90, "writing the summary")
        self.data["coverage"] = self.coverage.as_dict()
        plain = self.plain_summary(target)
        if not self.coverage.complete:
            plain += f" {describe(self.data['coverage']).capitalize()}."
        summary = narrate(self.ctx, plain, purpose="osint", enabled=self.params.narrative)
        self.data.update(
            findings=self.findings, errors=self.errors, narrative=summary, generated_by=generated_by(self.ctx)
        )
        failed = bool(self.errors) and not self.answered
        return AgentResult(
            data=self.data,
            summary=summary,
            status="failed" if failed else "completed",
            error_message="; ".join(e["error"] for e in self.errors) if failed else "",
            entities=self.graph.entities,
            relations=self.graph.relations,
        )

    # --- stages ----------------------------------------------------------------------------------

    def dns(self, name: str) -> None:
        self.ctx.check_cancelled()
        self.ctx.progress(10, f"DNS for {name}")
        try:
            result = dns_records.lookup_name(
                name,
                nameservers=self.params.resolvers,
                timeout=self.params.dns_timeout,
                record_types=self.params.record_types,
            )
        except EgressRefused as exc:  # a configured resolver the egress policy does not allow
            self.errors.append({"stage": "dns", "error": str(exc)})
            self.coverage.missed(f"DNS for {name}", "egress_refused", str(exc))
            return
        self.data["dns"] = result
        self.errors += [{"stage": "dns", "error": e} for e in result["errors"]]
        status = result["status"]
        if status in ("exists", "nxdomain"):
            self.answered.add("dns")
            self.coverage.ok("DNS", f"{name}: {status}")
        else:
            reason = {
                "resolver_unusable": "resolver_unusable",
                "timeout": "timeout",
                "servfail": "servfail",
            }.get(status, "resolver_unreachable")
            self.coverage.missed(
                f"DNS for {name}", reason, result["resolver_check"] or "; ".join(result["errors"][:2])
            )
        if status == "nxdomain":
            self.findings.append(
                _finding(
                    "info",
                    "The name does not exist in DNS",
                    f"NXDOMAIN for {name}; {result['resolver_check']}",
                    "",
                )
            )
            return
        if status != "exists":
            return
        node = self.graph.entity("domain", name)
        records = result["records"]
        for address in records.get("A", []) + records.get("AAAA", []):
            self.graph.relate(node, "resolves_to", self.graph.entity("ip", address), source="dns")
        for mx in records.get("MX", []):
            if mx["exchange"]:
                self.graph.relate(
                    node,
                    "mail_handled_by",
                    self.graph.entity("domain", mx["exchange"]),
                    preference=mx["preference"],
                )
        for alias in records.get("CNAME", []):
            self.graph.relate(node, "alias_of", self.graph.entity("domain", alias))
        if records.get("MX") and not result["spf"]:
            self.findings.append(
                _finding(
                    "low",
                    "No SPF record",
                    f"{name} receives mail but publishes no v=spf1 TXT record",
                    "Publish an SPF record listing the hosts allowed to send mail for the domain.",
                )
            )
        if records.get("MX") and not result["dmarc"]:
            self.findings.append(
                _finding(
                    "low",
                    "No DMARC policy",
                    f"no v=DMARC1 TXT record at _dmarc.{name}",
                    "Publish a DMARC policy (start with p=none and a rua address, then tighten).",
                )
            )

    def reverse(self, ip: str) -> None:
        self.ctx.check_cancelled()
        self.ctx.progress(20, f"reverse DNS for {ip}")
        try:
            result = dns_records.lookup_ptr(
                ip, nameservers=self.params.resolvers, timeout=self.params.dns_timeout
            )
        except EgressRefused as exc:
            self.errors.append({"stage": "reverse_dns", "error": str(exc)})
            self.coverage.missed(f"reverse DNS for {ip}", "egress_refused", str(exc))
            return
        self.data["reverse_dns"] = result
        self.errors += [{"stage": "reverse_dns", "error": e} for e in result["errors"]]
        if not result["errors"]:
            self.answered.add("reverse_dns")
            self.coverage.ok("reverse DNS", ip)
        else:
            self.coverage.missed(
                f"reverse DNS for {ip}", _dns_reason(result["errors"][0]), result["errors"][0]
            )
        for name in result["ptr"]:
            self.graph.relate(
                self.graph.entity("domain", name), "resolves_to", self.graph.entity("ip", ip), source="ptr"
            )

    def registration_of_domain(self, domain: str) -> None:
        if not self.params.rdap:
            return
        self.ctx.check_cancelled()
        self.ctx.progress(40, f"registration data for {domain}")
        try:
            info = rdap.rdap_domain(
                self.params.rdap_base_url, domain, task_id=self.task_id, timeout=self.params.rdap_timeout
            )
        except EgressRefused as exc:
            self.coverage.missed("registration data (RDAP)", "egress_refused", str(exc))
            return
        except EgressError as exc:
            self.errors.append({"stage": "rdap", "error": str(exc)})
            self.coverage.missed("registration data (RDAP)", _network_reason(exc), str(exc))
            return
        self.data["rdap"] = info
        self.answered.add("rdap")
        self.coverage.ok("registration data (RDAP)")
        if not info.get("found"):
            return
        node = self.graph.entity(
            "domain",
            domain,
            registrar=info["registrar"],
            registered=info["registered"],
            expires=info["expires"],
        )
        for ns in info["nameservers"]:
            self.graph.relate(node, "name_served_by", self.graph.entity("domain", ns))
        now = dt.datetime.now(dt.UTC)
        registered, expires = _date(info["registered"]), _date(info["expires"])
        if registered and (now - registered).days < 30:
            self.findings.append(
                _finding(
                    "medium",
                    "Newly registered domain",
                    f"registered {info['registered']}",
                    "Treat recently registered domains with suspicion (phishing, malware staging).",
                )
            )
        if expires and (expires - now).days < 30:
            self.findings.append(
                _finding(
                    "medium" if expires > now else "high",
                    "Domain registration expiring",
                    f"expires {info['expires']}",
                    "Renew the registration or confirm it is meant to lapse.",
                )
            )

    def registration_of_ip(self, ip: str) -> None:
        if not self.params.rdap:
            return
        self.ctx.check_cancelled()
        self.ctx.progress(40, f"registration data for {ip}")
        try:
            info = rdap.rdap_ip(
                self.params.rdap_base_url, ip, task_id=self.task_id, timeout=self.params.rdap_timeout
            )
        except EgressRefused as exc:
            self.coverage.missed("registration data (RDAP)", "egress_refused", str(exc))
            return
        except EgressError as exc:
            self.errors.append({"stage": "rdap", "error": str(exc)})
            self.coverage.missed("registration data (RDAP)", _network_reason(exc), str(exc))
            return
        self.data["rdap"] = info
        self.answered.add("rdap")
        self.coverage.ok("registration data (RDAP)")
        if info.get("found") and info.get("organization"):
            self.graph.relate(
                self.graph.entity("ip", ip),
                "allocated_to",
                self.graph.entity("organization", info["organization"]),
            )

    def page(self, target: Target) -> None:
        if not self.params.fetch_pages:
            return
        self.ctx.check_cancelled()
        self.ctx.progress(60, f"fetching {target.value}")
        url_node = self.graph.entity("url", target.value)
        host_kind = "ip" if target.host_is_ip else "domain"
        self.graph.relate(url_node, "hosted_on", self.graph.entity(host_kind, target.host))
        try:
            page = webpage.fetch_page(
                target.value,
                task_id=self.task_id,
                timeout=self.params.fetch_timeout,
                max_bytes=self.params.max_page_bytes,
                verify=self.params.ca_bundle or True,
                max_links=self.params.max_links,
            )
        except EgressRefused as exc:
            self.data["page"] = {"url": target.value, "refused": True, "reason": str(exc)}
            self.answered.add("page")
            self.findings.append(_finding("info", "Page not fetched", str(exc), ""))
            self.coverage.missed(f"page {target.value}", "egress_refused", str(exc))
            return
        except EgressError as exc:
            self.errors.append({"stage": "page", "error": str(exc)})
            self.coverage.missed(f"page {target.value}", _network_reason(exc), str(exc))
            return
        self.data["page"] = page
        self.answered.add("page")
        self.coverage.ok("page", target.value)
        final = page["url"]
        if final != target.value:
            final_node = self.graph.entity("url", final)
            self.graph.relate(url_node, "redirects_to", final_node)
            final_host = parse_target(final).host
            if final_host:
                kind = "ip" if parse_target(final).host_is_ip else "domain"
                self.graph.relate(final_node, "hosted_on", self.graph.entity(kind, final_host))
        else:
            final_node = url_node
        for domain in page["outbound_domains"]:
            self.graph.relate(final_node, "links_to", self.graph.entity("domain", domain))
        for email in page["emails"]:
            domain = email.rpartition("@")[2]
            self.graph.relate(self.graph.entity("email", email), "at", self.graph.entity("domain", domain))
        for phone in page["phones"]:
            self.graph.entity("phone", phone)
        if page.get("text_excerpt"):
            self.indicators(page["text_excerpt"], "page")

    def indicators(self, text: str, source: str) -> None:
        found = extract_indicators(text)[: self.params.max_indicators]
        self.answered.add("indicators")
        listed = self.data.setdefault("indicators", [])
        for indicator in found:
            listed.append({**indicator.__dict__, "source": source})
            if not for_graph(indicator) or indicator.kind not in INDICATOR_KINDS:
                continue  # stays in the result; only confident, graph-typed ones become entities
            kind, attributes = INDICATOR_KINDS[indicator.kind]
            self.graph.entity(kind, indicator.value, **attributes)
            if indicator.kind == "email":
                self.graph.relate(
                    self.graph.entity("email", indicator.value),
                    "at",
                    self.graph.entity("domain", indicator.value.rpartition("@")[2]),
                )

    def plain_summary(self, target: Target) -> str:
        parts = [f"{target.value} ({target.kind})"]
        dns = self.data.get("dns")
        if dns and dns["exists"]:
            records = dns["records"]
            addresses = records.get("A", []) + records.get("AAAA", [])
            if addresses:
                parts.append("resolves to " + ", ".join(addresses[:5]))
            if records.get("MX"):
                parts.append("mail handled by " + ", ".join(m["exchange"] for m in records["MX"][:3]))
            parts.append(f"SPF {'present' if dns['spf'] else 'missing'}")
            dmarc = dns["dmarc"]
            parts.append(f"DMARC p={dmarc['tags'].get('p', '?')}" if dmarc else "DMARC missing")
        elif dns and dns["status"] == "nxdomain":
            parts.append("does not exist in DNS (NXDOMAIN from a resolver that answers for its parent zones)")
        elif dns:
            parts.append(f"existence in DNS not known ({dns['status'].replace('_', ' ')})")
        if ptr := (self.data.get("reverse_dns") or {}).get("ptr"):
            parts.append("reverse DNS " + ", ".join(ptr))
        registration = self.data.get("rdap") or {}
        if registration.get("found"):
            if registration.get("registrar"):
                parts.append(
                    f"registered {(registration.get('registered') or '?')[:10]} "
                    f"with {registration['registrar']}, expires {(registration.get('expires') or '?')[:10]}"
                )
            elif registration.get("organization"):
                parts.append(
                    f"allocated to {registration['organization']} ({registration.get('country') or '?'})"
                )
        page = self.data.get("page")
        if page and page.get("refused"):
            parts.append("page not fetched (refused by the egress policy)")
        elif page:
            parts.append(
                f"page {page['status']} '{page.get('title') or ''}' with "
                f"{len(page['outbound_domains'])} outbound domains, {len(page['emails'])} e-mail addresses"
            )
        if indicators := self.data.get("indicators"):
            kinds: dict[str, int] = {}
            for i in indicators:
                kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
            parts.append("indicators: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        if self.findings:
            parts.append(f"{len(self.findings)} finding(s)")
        if self.errors:
            parts.append(f"{len(self.errors)} lookup(s) failed")
        return "; ".join(parts) + "."


def _network_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "could not resolve" in text:
        return "resolver_unreachable"
    return "unreachable"


def _dns_reason(error: str) -> str:
    if "in time" in error:
        return "timeout"
    if "no resolver answered" in error:
        return "servfail"
    return "resolver_unreachable"


def _finding(severity: str, title: str, evidence: str, remediation: str) -> dict[str, Any]:
    return {"severity": severity, "title": title, "evidence": evidence, "remediation": remediation}


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
