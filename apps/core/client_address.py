"""The one place that decides a request's client address.

X-Forwarded-For is written by whoever sends the request, so it is believed only as far as it was
written by proxies we trust:
- AMAS_TRUSTED_PROXIES (networks): when the socket's peer is inside one of them, the header is read
  from the right, skipping entries that are themselves trusted proxies; the first other entry is
  the client. A peer outside these networks is the client, whatever the header says.
- AMAS_PROXY_COUNT (hops), when no networks are configured: the entry that the outermost of that
  many proxies appended. Only correct when nothing can reach daphne except through those proxies.
- Neither: the socket's peer address, always.

Rate limits, sign-in limits, trust scoring, audit records and operator (metrics) access all use
this; daphne must run without --proxy-headers so that REMOTE_ADDR is the real peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(specs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # Settings are validated at start-up (amas/settings/base.py); a typo must not open the door,
    # so an unparsable entry raises here instead of being skipped.
    return tuple(ipaddress.ip_network(spec.strip(), strict=False) for spec in specs if spec.strip())


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = address.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _inside(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def resolve_client_address(peer: str, forwarded_for: str) -> str:
    """`peer` is the socket's remote address, `forwarded_for` the raw X-Forwarded-For value(s)."""
    peer_ip = _parse(peer)
    peer_text = str(peer_ip) if peer_ip is not None else (peer or "")
    trusted = _networks(tuple(getattr(settings, "AMAS_TRUSTED_PROXIES", ()) or ()))
    hops = int(getattr(settings, "AMAS_PROXY_COUNT", 0) or 0)
    entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
    if trusted:
        if peer_ip is None or not _inside(peer_ip, trusted):
            return peer_text
        for entry in reversed(entries):
            address = _parse(entry)
            if address is None:
                # Garbage between trusted hops: everything left of it is unaccountable.
                return peer_text
            if not _inside(address, trusted):
                return str(address)
        # Every hop was a trusted proxy: the leftmost one is as close to the client as we know.
        leftmost = _parse(entries[0]) if entries else None
        return str(leftmost) if leftmost is not None else peer_text
    if hops > 0 and len(entries) >= hops:
        address = _parse(entries[-hops])
        if address is not None:
            return str(address)
    return peer_text


def client_address(request: HttpRequest) -> str:
    """The client address of an HTTP request (see the module docstring)."""
    return resolve_client_address(
        request.META.get("REMOTE_ADDR", "") or "", request.META.get("HTTP_X_FORWARDED_FOR", "") or ""
    )


def scope_client_address(scope: dict[str, Any]) -> str:
    """The same for an ASGI scope (websockets): peer from scope["client"], header from the scope."""
    peer = (scope.get("client") or ("", 0))[0] or ""
    forwarded = b",".join(
        value for name, value in scope.get("headers") or () if name.lower() == b"x-forwarded-for"
    )
    return resolve_client_address(peer, forwarded.decode("latin-1"))
