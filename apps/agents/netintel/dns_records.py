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
    try:
        answer = resolver.resolve(name, rtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return [], None, False
    except dns.resolver.NoNameservers as exc:
        return [], f"{rtype} {name}: no resolver answered ({exc})", True
    except dns.exception.Timeout:
        return [], f"{rtype} {name}: the resolver did not answer in time", True
    except dns.exception.DNSException as exc:
        return [], f"{rtype} {name}: {exc}", True
    if answer.rrset is None:
        return [], None, True
    records = [_rdata(rtype, r) for r in answer.rrset if r.rdtype == dns.rdatatype.from_text(rtype)]
    return records, None, True


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
    exists = True
    for rtype in record_types:
        found, error, name_exists = _query(resolver, name, rtype)
        exists = exists and name_exists
        records[rtype] = found
        if error:
            errors.append(error)
    spf = next((t for t in records.get("TXT", []) if t.lower().startswith("v=spf1")), None)
    dmarc_txt, error, _ = _query(resolver, f"_dmarc.{name}", "TXT")
    if error:
        errors.append(error)
    dmarc = next((t for t in dmarc_txt if t.lower().startswith("v=dmarc1")), None)
    return {
        "name": name,
        "exists": exists,
        "records": records,
        "spf": spf,
        "dmarc": {"record": dmarc, "tags": parse_tags(dmarc)} if dmarc else None,
        "nameservers": nameservers or ["system"],
        "errors": errors,
    }


def lookup_ptr(ip: str, *, nameservers: list[str], timeout: float) -> dict[str, Any]:
    resolver = dns_resolver(nameservers, timeout=timeout)
    names, error, _ = _query(resolver, dns.reversename.from_address(ip).to_text(), "PTR")
    return {"ip": ip, "ptr": names, "errors": [error] if error else []}


def resolver_health(nameservers: list[str], timeout: float) -> tuple[bool, str]:
    """A resolver is healthy when it answers a question (any answer, NXDOMAIN included)."""
    resolver = dns_resolver(nameservers, timeout=timeout)
    shown = ", ".join(nameservers) or "the system resolver"
    try:
        resolver.resolve(".", "SOA", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        pass
    except dns.exception.DNSException as exc:
        return False, f"{shown} did not answer: {exc}"
    return True, f"{shown} answered"
