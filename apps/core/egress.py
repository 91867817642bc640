"""Every outbound request of agents (and webhooks) goes through here.

- A name is resolved once and the connection goes to that address (the URL's host is rewritten to
  the IP; Host header and TLS SNI/verification keep the name), so a second, different DNS answer
  cannot steer the request elsewhere (DNS rebinding).
- Loopback, private, link-local, cloud metadata, multicast, reserved, shared and unspecified
  addresses, IPv4 and IPv6 (with IPv4 embedded in IPv6), are refused unless settings
  AMAS_EGRESS_ALLOWLIST or the admin's egress allowlist names the address, its range or the host.
- Responses are capped in size (decoded bytes, so a compressed bomb stops too) and in total time;
  redirects are limited and every hop is checked again.
- Requests identify themselves with AMAS_EGRESS_USER_AGENT and each one logs a line with its
  task id. Environment proxies are ignored: they would bypass the address checks.

Active probing (port scans, exposure checks) is allowed only against the admin's authorised
targets: see `probing_authorisation`."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import dns.exception
import dns.nameserver
import dns.resolver
import httpx
from django.apps import apps
from django.conf import settings

log = logging.getLogger("amas.egress")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
SHARED_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class EgressError(Exception):
    """The request could not be made or completed (timeout, connection refused, bad URL)."""


class EgressRefused(EgressError):
    """The policy forbids the destination; the message says why and how to allow it."""


@dataclass
class EgressResponse:
    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes
    address: str
    truncated: bool = False
    redirects: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: int = 0
    http_version: str = ""

    @property
    def text(self) -> str:
        charset = "utf-8"
        content_type = self.headers.get("content-type", "")
        if "charset=" in content_type:
            charset = content_type.split("charset=")[-1].split(";")[0].strip().strip('"') or charset
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


# --- address policy ------------------------------------------------------------------------------


def address_problem(address: IPAddress | str) -> str | None:
    """Why an address may not be reached by default, or None when it is a public address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 address, whatever it is
            problem = address_problem(ip.ipv4_mapped)
            return f"{problem} (embedded in {ip})" if problem else None
        embedded = [ip.sixtofour, *(ip.teredo or ())]
        if ip in NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for inner in embedded:
            if inner is not None and (problem := address_problem(inner)):
                return f"{problem} (embedded in {ip})"
    if ip in METADATA_ADDRESSES:
        return "cloud metadata service"
    checks = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.version == 4 and ip in SHARED_SPACE, "shared address space"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def _entries(setting: list[str], model: str) -> tuple[list[Network], list[str]]:
    """Networks and host names from a setting plus the enabled rows of an admin model."""
    values = list(setting)
    if apps.is_installed("apps.agents"):
        values += list(
            apps.get_model("agents", model).objects.filter(enabled=True).values_list("value", flat=True)
        )
    networks, names = [], []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            names.append(value.lower().rstrip("."))
    return networks, names


def _name_matches(host: str, patterns: list[str], *, subdomains: bool) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern or (subdomains and host.endswith("." + pattern)):
            return True
    return False


def _in(ip: IPAddress, networks: list[Network]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def check_address(host: str, address: str) -> None:
    """Raise EgressRefused when policy forbids connecting to `address` (resolved from `host`)."""
    ip = ipaddress.ip_address(address)
    problem = address_problem(ip)
    if problem is None:
        return
    networks, names = _entries(settings.AMAS_EGRESS_ALLOWLIST, "EgressAllowlistEntry")
    if _in(ip, networks) or _name_matches(host, names, subdomains=False):
        return
    shown = host if host == address else f"{host} ({address})"
    raise EgressRefused(
        f"Refused to connect to {shown}: {problem} address. An admin can allow it in the egress allowlist."
    )


# --- resolution ----------------------------------------------------------------------------------


def parse_nameserver(value: str) -> tuple[str, int]:
    """'9.9.9.9', '127.0.0.1:5353', '[2620:fe::fe]:53' or '2620:fe::fe' -> (address, port)."""
    value = value.strip()
    if value.startswith("["):
        address, _, port = value[1:].partition("]")
        return address, int(port.lstrip(":") or 53)
    if value.count(":") == 1:
        address, port = value.split(":")
        return address, int(port)
    return value, 53


def dns_resolver(nameservers: list[str], *, timeout: float = 3.0) -> dns.resolver.Resolver:
    """A dnspython resolver on the given 'ip[:port]' servers, or the system's when empty.
    Raises EgressRefused for a server the egress policy does not allow (loopback, private ...),
    except the admin's own AMAS_EGRESS_RESOLVERS."""
    if not nameservers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        servers = [parse_nameserver(server) for server in nameservers]
        own = {parse_nameserver(server) for server in settings.AMAS_EGRESS_RESOLVERS}
        for server in servers:
            if server not in own:  # a query to a resolver is traffic to it: the same policy
                check_address(server[0], server[0])
        resolver.nameservers = [dns.nameserver.Do53Nameserver(address, port) for address, port in servers]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


def resolve(host: str, port: int = 0, *, timeout: float = 5.0) -> list[str]:
    """Every address of `host` (an IP literal resolves to itself)."""
    host = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if settings.AMAS_EGRESS_RESOLVERS:
        resolver = dns_resolver(settings.AMAS_EGRESS_RESOLVERS, timeout=timeout)
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                found += [r.address for r in resolver.resolve(host, rdtype)]
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise EgressError(f"Could not resolve {host}: {exc}") from None
        if not found:
            raise EgressError(f"Could not resolve {host}: no address.")
        return found
    try:
        infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EgressError(f"Could not resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos))


def resolve_checked(host: str, port: int = 0) -> str:
    """Resolve once and check every answer; the address to connect to. If any answer is forbidden
    the name is refused (a mixed answer is how rebinding attacks start)."""
    addresses = resolve(host, port)
    for address in addresses:
        check_address(host.strip("[]"), address)
    return addresses[0]


# --- HTTP ----------------------------------------------------------------------------------------


def _ssl_context(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def _pinned(url: httpx.URL, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL with its host replaced by the address, the Host header, and the TLS server name."""
    host_header = url.host if url.port is None else f"{url.host}:{url.port}"
    if ":" in url.host:
        host_header = f"[{url.host}]" if url.port is None else f"[{url.host}]:{url.port}"
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.host
    return url.copy_with(host=address), {"Host": host_header}, extensions


def egress_request(
    method: str,
    url: str,
    *,
    task_id: object = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    json: Any = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    max_redirects: int | None = None,
    follow_redirects: bool = True,
    verify: bool | str | ssl.SSLContext = True,
    address: str | None = None,
) -> EgressResponse:
    """Make one request under the egress policy. `address` pins the first hop's host to an
    address resolved (and checked) by the caller. Raises EgressRefused or EgressError."""
    timeout = settings.AMAS_EGRESS_TIMEOUT if timeout is None else timeout
    max_bytes = settings.AMAS_EGRESS_MAX_BYTES if max_bytes is None else max_bytes
    max_redirects = settings.AMAS_EGRESS_MAX_REDIRECTS if max_redirects is None else max_redirects
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    send_headers = {"User-Agent": settings.AMAS_EGRESS_USER_AGENT, **(headers or {})}
    redirects: list[dict[str, Any]] = []
    current = url
    first_host = None
    with httpx.Client(verify=_ssl_context(verify), trust_env=False, follow_redirects=False) as client:
        while True:
            target = _parse(current)
            first_host = first_host or target.host
            if address is not None and target.host == first_host:
                check_address(target.host, address)
                pinned_address = address
            else:
                pinned_address = resolve_checked(target.host, target.port or 0)
            response = _send_one(
                client,
                method,
                target,
                pinned_address,
                send_headers,
                content,
                json,
                deadline,
                max_bytes,
                task_id,
            )
            location = response.headers.get("location")
            if not (follow_redirects and response.status_code in REDIRECT_STATUSES and location):
                response.redirects = redirects
                response.elapsed_ms = int((time.monotonic() - started) * 1000)
                return response
            if len(redirects) >= max_redirects:
                raise EgressError(f"Too many redirects (more than {max_redirects}) from {url}.")
            following = urljoin(current, location)
            redirects.append({"url": current, "status": response.status_code, "location": following})
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, content, json = ("HEAD" if method == "HEAD" else "GET"), None, None
            if _parse(following).host != target.host:
                send_headers = {
                    k: v for k, v in send_headers.items() if k.lower() not in ("authorization", "cookie")
                }
            current = following


def egress_get(url: str, **kwargs: Any) -> EgressResponse:
    return egress_request("GET", url, **kwargs)


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise EgressError(f"Invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EgressRefused(f"Only http and https URLs with a host are allowed, not {url!r}.")
    return parsed


def _send_one(
    client: httpx.Client,
    method: str,
    url: httpx.URL,
    address: str,
    headers: dict[str, str],
    content: bytes | None,
    json: Any,
    deadline: float,
    max_bytes: int,
    task_id: object,
) -> EgressResponse:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise EgressError(f"Timed out before requesting {url}.")
    pinned_url, host_header, extensions = _pinned(url, address)
    request = client.build_request(
        method,
        pinned_url,
        headers={**headers, **host_header},
        content=content,
        json=json,
        timeout=httpx.Timeout(remaining),
        extensions=extensions,
    )
    started = time.monotonic()
    body = bytearray()
    truncated = False
    try:
        response = client.send(request, stream=True)
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    del body[max_bytes:]
                    truncated = True
                    break
                if time.monotonic() > deadline:
                    _log(method, url, address, "timeout", len(body), started, task_id)
                    raise EgressError(f"Timed out reading {url} (over the time cap).")
        finally:
            response.close()
        status, response_headers, version = response.status_code, response.headers, response.http_version
    except httpx.TimeoutException:
        _log(method, url, address, "timeout", 0, started, task_id)
        raise EgressError(f"Timed out requesting {url}.") from None
    except httpx.HTTPError as exc:
        _log(method, url, address, "error", 0, started, task_id)
        raise EgressError(f"Request to {url} failed: {exc}") from None
    _log(method, url, address, status, len(body), started, task_id, truncated)
    return EgressResponse(
        url=str(url),
        status_code=status,
        headers=response_headers,
        content=bytes(body),
        address=address,
        truncated=truncated,
        http_version=version,
    )


def _log(
    method: str,
    url: httpx.URL,
    address: str,
    outcome: object,
    size: int,
    started: float,
    task_id: object,
    truncated: bool = False,
) -> None:
    log.info(
        "egress %s %s via %s -> %s %d bytes%s in %d ms task=%s",
        method,
        url,
        address,
        outcome,
        size,
        " (truncated)" if truncated else "",
        int((time.monotonic() - started) * 1000),
        task_id or "-",
        extra={"task_id": str(task_id) if task_id else None},
    )


# --- raw TCP -------------------------------------------------------------------------------------


def egress_connect(
    host: str, port: int, *, timeout: float = 5.0, task_id: object = None, address: str | None = None
) -> socket.socket:
    """A TCP connection under the egress policy (TLS inspection, port checks)."""
    if address is None:
        address = resolve_checked(host, port)
    else:
        check_address(host, address)
    started = time.monotonic()
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        log.info(
            "egress TCP %s:%s via %s -> %s in %d ms task=%s",
            host, port, address, type(exc).__name__, int((time.monotonic() - started) * 1000), task_id or "-",
        )  # fmt: skip
        raise
    log.info(
        "egress TCP %s:%s via %s -> connected in %d ms task=%s",
        host, port, address, int((time.monotonic() - started) * 1000), task_id or "-",
    )  # fmt: skip
    return sock


# --- active probing ------------------------------------------------------------------------------


def _host_of(target: str) -> str:
    target = target.strip()
    if "://" in target:
        return (urlsplit(target).hostname or "").lower()
    return target.strip("[]").lower().rstrip(".")


def probing_authorisation(target: str, *, address: str | None = None) -> tuple[bool, str]:
    """Whether `target` (a URL, host name or IP) may be probed actively, and why. A host name is
    authorised by a domain entry (covering its subdomains), or, when the caller passes the address
    it will connect to, by a CIDR entry containing that address."""
    host = _host_of(target)
    if not host:
        return False, "The target has no host to probe."
    networks, names = _entries(settings.AMAS_AUTHORISED_TARGETS, "AuthorisedTarget")
    candidates = [address] if address else []
    try:
        candidates.append(str(ipaddress.ip_address(host)))
    except ValueError:
        if _name_matches(host, names, subdomains=True):
            return True, f"{host} is within an authorised domain."
    for candidate in candidates:
        if _in(ipaddress.ip_address(candidate), networks):
            return True, f"{candidate} is within an authorised range."
    return False, (
        f"{host} is not an authorised target: active checks (port and exposure checks) run only "
        "against domains and ranges an admin listed under Authorised targets."
    )


def authorised_for_active_probing(target: str, *, address: str | None = None) -> bool:
    return probing_authorisation(target, address=address)[0]
