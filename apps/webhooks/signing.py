"""The signature every delivery carries:

    X-AMAS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is signed with the body so a captured request cannot be replayed later; receivers
reject signatures older than a few minutes (see README, "Webhooks")."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-AMAS-Signature"
DELIVERY_HEADER = "X-AMAS-Delivery"
EVENT_HEADER = "X-AMAS-Event"
EVENT_ID_HEADER = "X-AMAS-Event-Id"
ATTEMPT_HEADER = "X-AMAS-Attempt"


def secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def signature_verify(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does; AMAS uses it in its own tests and documents it in the README."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
