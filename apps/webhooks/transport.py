"""The HTTP leg of a delivery, through the egress helper (apps/core/egress.py), so webhooks obey
the same address policy as agents: no loopback, private, link-local or metadata targets unless
allowlisted (AMAS_EGRESS_ALLOWLIST or the admin's egress allowlist), checked on the address
actually connected to (no DNS-rebinding gap). Redirects are not followed: a receiver answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

EXCERPT_BYTES = 4096
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    refused: bool = False  # the egress policy refused the target: retrying cannot help


def refusal_reason(url: str) -> str:
    """Why the egress policy refuses this URL's host now ("" when allowed, or when the name does
    not resolve yet: that is a delivery failure to retry, not a policy decision)."""
    from apps.core.egress import EgressError, EgressRefused, resolve_checked

    try:
        parsed = httpx.URL(url)
        resolve_checked(parsed.host, parsed.port or 0)
    except EgressRefused as exc:
        return str(exc)
    except (EgressError, httpx.InvalidURL):
        return ""
    return ""


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    from apps.core.egress import EgressError, EgressRefused, egress_request

    try:
        response = egress_request(
            "POST",
            url,
            headers=headers,
            content=body,
            timeout=timeout,
            max_bytes=EXCERPT_BYTES,
            follow_redirects=False,
        )
    except EgressRefused as exc:
        return Outcome(ok=False, error=str(exc), refused=True)
    except EgressError as exc:
        return Outcome(ok=False, error=str(exc))
    except Exception as exc:  # a bug below must cost one attempt, not leave the delivery stuck
        log.exception("Webhook POST to %s failed unexpectedly", url)
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
    excerpt = response.text
    ok = 200 <= response.status_code < 300
    error = "" if ok else f"HTTP {response.status_code}"
    return Outcome(ok=ok, status_code=response.status_code, excerpt=excerpt, error=error)
