"""Active checks, run only on authorised targets: common leaks over HTTP and a TCP connect scan
of a short port list. Every connection goes through the egress helper to the pinned address."""

from __future__ import annotations

import re
from typing import Any

from apps.agents.netintel.findings import finding
from apps.agents.netintel.secrets import mask
from apps.core.egress import EgressError, egress_connect, egress_get

DEFAULT_PORTS = [21, 22, 23, 25, 80, 443, 445, 3306, 3389, 5432, 6379, 8080, 8443, 9200, 27017]
PORT_RISKS = {
    21: ("medium", "FTP"),
    23: ("high", "Telnet"),
    445: ("high", "SMB"),
    3306: ("high", "MySQL"),
    3389: ("high", "RDP"),
    5432: ("high", "PostgreSQL"),
    6379: ("high", "Redis"),
    9200: ("high", "Elasticsearch"),
    27017: ("high", "MongoDB"),
}
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]{1,63})\s*=\s*(.*)$", re.MULTILINE)
_LISTING = re.compile(r"<title>\s*(?:Index of /|Directory listing for /)", re.IGNORECASE)


def directory_listing(body: str) -> bool:
    return bool(_LISTING.search(body[:5000]))


def _git_head(body: bytes) -> bool:
    text = body[:200].decode("utf-8", errors="replace").strip()
    return text.startswith("ref: refs/") or bool(re.fullmatch(r"[0-9a-f]{40}", text))


def _env_file(body: bytes) -> list[tuple[str, str]]:
    text = body[:65536].decode("utf-8", errors="replace")
    if "<html" in text.lower():
        return []
    return [(m.group(1), m.group(2).strip().strip("'\"")) for m in _ENV_LINE.finditer(text)]


def exposure_checks(
    base_url: str, paths: list[str], *, address: str, timeout: float, task_id: object
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what each path answered, findings)."""
    checked, found = [], []
    for path in paths:
        url = base_url.rstrip("/") + path
        try:
            response = egress_get(
                url,
                task_id=task_id,
                timeout=timeout,
                max_bytes=65536,
                verify=False,
                follow_redirects=False,
                address=address,
            )
        except EgressError as exc:
            checked.append({"path": path, "error": str(exc)})
            continue
        entry: dict[str, Any] = {"path": path, "status": response.status_code, "bytes": len(response.content)}
        body = response.content
        if response.status_code == 200 and path.endswith("/.git/HEAD") and _git_head(body):
            entry["exposed"] = True
            found.append(
                finding(
                    "critical",
                    "exposure",
                    "Git repository exposed",
                    f"{url} answered {body[:60].decode(errors='replace').strip()!r}",
                    "Block /.git/ on the web server and remove the repository from the web root.",
                    url=url,
                )
            )
        elif response.status_code == 200 and path.endswith(".env") and (pairs := _env_file(body)):
            entry["exposed"] = True
            shown = ", ".join(f"{k}={mask(v)}" for k, v in pairs[:5])
            found.append(
                finding(
                    "critical",
                    "exposure",
                    "Environment file exposed",
                    f"{url} lists {len(pairs)} variables: {shown}",
                    "Remove the .env file from the web root and rotate every secret in it.",
                    url=url,
                )
            )
        elif response.status_code == 200 and directory_listing(response.text):
            entry["exposed"] = True
            found.append(
                finding(
                    "medium",
                    "exposure",
                    "Directory listing enabled",
                    f"{url} lists its files",
                    "Turn off directory indexes (autoindex off / Options -Indexes).",
                    url=url,
                )
            )
        else:
            entry["exposed"] = False
        checked.append(entry)
    return checked, found


def port_checks(
    host: str, ports: list[int], *, address: str, timeout: float, task_id: object
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    results, found = [], []
    for port in ports:
        try:
            egress_connect(host, port, timeout=timeout, task_id=task_id, address=address).close()
            state = "open"
        except TimeoutError:
            state = "filtered"
        except OSError:
            state = "closed"
        results.append({"port": port, "state": state})
        if state == "open":
            severity, service = PORT_RISKS.get(port, ("info", "service"))
            found.append(
                finding(
                    severity,
                    "ports",
                    f"Port {port} open ({service})",
                    f"{host} ({address}):{port} accepts connections",
                    "Close the port or restrict it to trusted networks."
                    if severity != "info"
                    else "Confirm the service is meant to be reachable.",
                )
            )
    return results, found
