"""DNS lookups with dnspython against configurable resolvers ('ip[:port]', or the system's)."""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.resolver
import dns.reversename

from apps.core.egress import dns_resolver

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "CAA")


def _rdata(rtype: str, rdata: Any) -> Any:
    if rtype in ("A", "AAAA"):
        return rdata.address
    if rtype in ("CNAME", "NS", "PTR"):
        return str(rdata.target).rstrip(".").lower()
    if rtype == "MX":
        return {"preference": rdata.preference, "exchange": str(rdata.exchange).rstrip(".").lower()}
    if rtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    if rtype == "SOA":
        return {
            "mname": str(rdata.mname).rstrip(".").lower(),
            "rname": str(rdata.rname).rstrip(".").lower(),
            "serial": rdata.serial,
            "refresh": rdata.refresh,
            "retry": rdata.retry,
            "expire": rdata.expire,
            "minimum": rdata.minimum,
        }
    if rtype == "CAA":
        return {"flags": rdata.flags, "tag": rdata.tag.decode(), "value": rdata.value.decode()}
    return rdata.to_text()


def _query(resolver: dns.resolver.Resolver, name: str, rtype: str) -> tuple[list[Any], str | None, bool]:
    """(records, error, name exists)."""
    records, error, outcome = _ask(resolver, name, rtype)
    return records, error, outcome != "nxdomain"


def _ask(resolver: dns.resolver.Resolver, name: str, rtype: str) -> tuple[list[Any], str | None, str]:
    """(records, error, outcome): outcome is 'answer', 'nxdomain', 'servfail' (no server gave a
    usable answer: SERVFAIL or REFUSED), 'timeout' or 'error'. Only 'answer' and 'nxdomain' are
    answers; the rest say nothing about the name."""
    try:
        answer = resolver.resolve(name, rtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return [], None, "nxdomain"
    except dns.resolver.NoNameservers as exc:
        return [], f"{rtype} {name}: no resolver answered ({exc})", "servfail"
    except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
        return [], f"{rtype} {name}: the resolver did not answer in time", "timeout"
    except dns.exception.DNSException as exc:
        return [], f"{rtype} {name}: {exc}", "error"
    if answer.rrset is None:
        return [], None, "answer"
    records = [_rdata(rtype, r) for r in answer.rrset if r.rdtype == dns.rdatatype.from_text(rtype)]
    return records, None, "answer"


def _ancestors(name: str) -> list[str]:
    labels = name.rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))] + ["."]


def resolver_credible(resolver: dns.resolver.Resolver, name: str) -> tuple[bool, str]:
    """Whether an NXDOMAIN for `name` is believable: the resolver must know that some zone above
    it exists (the parent zone, or at least the root). One that denies even the root denies
    everything, and its NXDOMAIN says nothing about the name."""
    for ancestor in _ancestors(name):
        _, _, outcome = _ask(resolver, ancestor, "SOA")
        if outcome == "answer":
            return True, f"the resolver answers for {ancestor}"
        if outcome in ("timeout", "servfail", "error"):
            return False, f"the resolver gave no usable answer for {ancestor} ({outcome})"
    return False, "the resolver denies names that must exist (even the root zone)"


def parse_tags(record: str) -> dict[str, str]:
    """'v=DMARC1; p=reject; rua=mailto:x' -> {'v': 'DMARC1', 'p': 'reject', 'rua': 'mailto:x'}"""
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


def lookup_name(
    name: str,
    *,
    nameservers: list[str],
    timeout: float,
    record_types: list[str] | tuple[str, ...] = RECORD_TYPES,
) -> dict[str, Any]:
    """Records of `name`, its SPF (a TXT starting v=spf1) and DMARC policy (TXT at _dmarc)."""
    resolver = dns_resolver(nameservers, timeout=timeout)
    records: dict[str, list[Any]] = {}
    errors: list[str] = []
    outcomes: dict[str, str] = {}
    for rtype in record_types:
        found, error, outcome = _ask(resolver, name, rtype)
        outcomes[rtype] = outcome
        records[rtype] = found
        if error:
            errors.append(error)
    answered = [o for o in outcomes.values() if o in ("answer", "nxdomain")]
    status = _status(outcomes)
    credibility = ""
    if status == "nxdomain":
        credible, credibility = resolver_credible(resolver, name)
        if not credible:
            status = "resolver_unusable"
    spf = next((t for t in records.get("TXT", []) if t.lower().startswith("v=spf1")), None)
    dmarc_txt, error, _ = _ask(resolver, f"_dmarc.{name}", "TXT")
    if error:
        errors.append(error)
    dmarc = next((t for t in dmarc_txt if t.lower().startswith("v=dmarc1")), None)
    return {
        "name": name,
        # True only on an answer; False only on a believable NXDOMAIN; None: not known.
        "exists": True if status == "exists" else (False if status == "nxdomain" else None),
        "status": status,
        "outcomes": outcomes,
        "answered": len(answered),
        "resolver_check": credibility,
        "records": records,
        "spf": spf,
        "dmarc": {"record": dmarc, "tags": parse_tags(dmarc)} if dmarc else None,
        "nameservers": nameservers or ["system"],
        "errors": errors,
    }


def _status(outcomes: dict[str, str]) -> str:
    """One word for the name from its per-type outcomes: 'exists' if any type got an answer,
    'nxdomain' if every type said so, else the failure seen (timeout over servfail over error)."""
    values = set(outcomes.values())
    if "answer" in values:
        return "exists"
    if values == {"nxdomain"}:
        return "nxdomain"
    for failure in ("timeout", "servfail", "error"):
        if failure in values:
            return failure
    return "error"


def lookup_ptr(ip: str, *, nameservers: list[str], timeout: float) -> dict[str, Any]:
    resolver = dns_resolver(nameservers, timeout=timeout)
    names, error, _ = _query(resolver, dns.reversename.from_address(ip).to_text(), "PTR")
    return {"ip": ip, "ptr": names, "errors": [error] if error else []}


def resolver_health(nameservers: list[str], timeout: float) -> tuple[bool, str]:
    """A resolver is healthy when it answers for the root zone (one that says the root does not
    exist would deny every name)."""
    resolver = dns_resolver(nameservers, timeout=timeout)
    shown = ", ".join(nameservers) or "the system resolver"
    _, error, outcome = _ask(resolver, ".", "SOA")
    if outcome == "nxdomain":
        return False, f"{shown} denies the root zone: its NXDOMAIN answers cannot be trusted"
    if outcome != "answer":
        return False, f"{shown} did not answer: {error}"
    return True, f"{shown} answered"
