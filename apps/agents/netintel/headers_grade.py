"""HTTP security headers graded A-F, with the reasons for every point lost."""

from __future__ import annotations

import re
from typing import Any

from apps.agents.netintel.findings import finding

HSTS_MIN_AGE = 15552000  # 180 days
GRADES = [(90, "A"), (80, "B"), (70, "C"), (60, "D"), (50, "E")]


def _directive(policy: str, name: str) -> str | None:
    for part in policy.split(";"):
        tokens = part.strip().split(None, 1)
        if tokens and tokens[0].lower() == name:
            return tokens[1] if len(tokens) > 1 else ""
    return None


def _cookies(set_cookies: list[str]) -> list[dict[str, Any]]:
    parsed = []
    for header in set_cookies:
        name = header.split("=", 1)[0].strip()
        attributes = {a.strip().split("=", 1)[0].lower() for a in header.split(";")[1:]}
        samesite = re.search(r";\s*samesite=(\w+)", header, re.IGNORECASE)
        parsed.append(
            {
                "name": name,
                "secure": "secure" in attributes,
                "httponly": "httponly" in attributes,
                "samesite": samesite.group(1).capitalize() if samesite else None,
            }
        )
    return parsed


def grade_headers(
    headers: dict[str, str], set_cookies: list[str], *, https: bool, url: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(grade report, findings). `headers` has lowercased names."""
    score = 100
    reasons: list[str] = []
    checks: dict[str, str] = {}
    found: list[dict[str, Any]] = []

    def lose(points: int, check: str, reason: str, severity: str, title: str, remediation: str) -> None:
        nonlocal score
        score -= points
        checks[check] = "fail"
        reasons.append(f"{reason} (-{points})")
        found.append(finding(severity, "headers", title, f"{url}: {reason}", remediation))

    hsts = headers.get("strict-transport-security")
    if not https:
        lose(
            20,
            "hsts",
            "Served over plain HTTP, so no HSTS",
            "medium",
            "No HTTPS",
            "Serve the site over HTTPS and redirect HTTP to it.",
        )
    elif hsts is None:
        lose(
            20,
            "hsts",
            "Missing Strict-Transport-Security",
            "medium",
            "Missing HSTS header",
            f"Send Strict-Transport-Security: max-age={HSTS_MIN_AGE * 2}; includeSubDomains.",
        )
    else:
        age = re.search(r"max-age\s*=\s*\"?(\d+)", hsts, re.IGNORECASE)
        if not age or int(age.group(1)) < HSTS_MIN_AGE:
            lose(
                10,
                "hsts",
                f"Strict-Transport-Security max-age below {HSTS_MIN_AGE} s",
                "low",
                "Short HSTS max-age",
                f"Raise max-age to at least {HSTS_MIN_AGE}.",
            )
        else:
            checks["hsts"] = "pass"

    csp = headers.get("content-security-policy")
    if csp is None:
        lose(
            25,
            "csp",
            "Missing Content-Security-Policy",
            "medium",
            "Missing Content-Security-Policy",
            "Define a Content-Security-Policy, starting with default-src 'self'.",
        )
    else:
        scripts = _directive(csp, "script-src") or _directive(csp, "default-src") or ""
        if "'unsafe-inline'" in scripts or "'unsafe-eval'" in scripts:
            lose(
                10,
                "csp",
                "Content-Security-Policy allows unsafe-inline/unsafe-eval scripts",
                "low",
                "Weak Content-Security-Policy",
                "Remove 'unsafe-inline' and 'unsafe-eval'; use nonces or hashes.",
            )
        else:
            checks["csp"] = "pass"

    xfo = (headers.get("x-frame-options") or "").strip().upper()
    if xfo in ("DENY", "SAMEORIGIN") or (csp and _directive(csp, "frame-ancestors") is not None):
        checks["framing"] = "pass"
    else:
        lose(
            15,
            "framing",
            "Missing X-Frame-Options and CSP frame-ancestors",
            "low",
            "Clickjacking protection missing",
            "Send X-Frame-Options: DENY or CSP frame-ancestors 'none'.",
        )

    if (headers.get("x-content-type-options") or "").strip().lower() == "nosniff":
        checks["content_type_options"] = "pass"
    else:
        lose(
            10,
            "content_type_options",
            "Missing X-Content-Type-Options: nosniff",
            "low",
            "Missing X-Content-Type-Options",
            "Send X-Content-Type-Options: nosniff.",
        )

    referrer = (headers.get("referrer-policy") or "").strip().lower()
    if not referrer or referrer == "unsafe-url":
        lose(
            10,
            "referrer_policy",
            "Missing or unsafe Referrer-Policy",
            "low",
            "Referrer-Policy missing",
            "Send Referrer-Policy: strict-origin-when-cross-origin (or stricter).",
        )
    else:
        checks["referrer_policy"] = "pass"

    if headers.get("permissions-policy"):
        checks["permissions_policy"] = "pass"
    else:
        lose(
            5,
            "permissions_policy",
            "Missing Permissions-Policy",
            "info",
            "Permissions-Policy missing",
            "Send a Permissions-Policy that disables features the site does not use.",
        )

    cookies = _cookies(set_cookies)
    cookie_points = 0
    for cookie in cookies:
        missing = [
            flag
            for flag, ok in (
                ("Secure", cookie["secure"] or not https),
                ("HttpOnly", cookie["httponly"]),
                ("SameSite", cookie["samesite"] is not None),
            )
            if not ok
        ]
        if missing:
            cookie_points += 5 * len(missing)
            reasons.append(f"Cookie {cookie['name']} lacks {', '.join(missing)}")
            found.append(
                finding(
                    "medium" if "Secure" in missing or "HttpOnly" in missing else "low",
                    "headers",
                    f"Cookie without {', '.join(missing)}",
                    f"{url}: Set-Cookie {cookie['name']}",
                    f"Set the {', '.join(missing)} attribute(s) on the {cookie['name']} cookie.",
                )
            )
    if cookies:
        checks["cookies"] = "fail" if cookie_points else "pass"
        if cookie_points:
            points = min(20, cookie_points)
            score -= points
            reasons[-1] += f" (-{points} for cookies in all)"

    score = max(0, score)
    grade = next((letter for floor, letter in GRADES if score >= floor), "F")
    return {"grade": grade, "score": score, "reasons": reasons, "checks": checks, "cookies": cookies}, found


def server_banner_findings(headers: dict[str, str], url: str) -> list[dict[str, Any]]:
    found = []
    for name in ("server", "x-powered-by", "x-aspnet-version", "x-generator"):
        value = headers.get(name)
        if value and re.search(r"\d+\.\d+", value):
            found.append(
                finding(
                    "low",
                    "exposure",
                    "Server banner discloses a version",
                    f"{url}: {name}: {value}",
                    f"Remove the version from the {name} header (e.g. server_tokens off).",
                )
            )
    return found
