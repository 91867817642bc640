"""What a task's target is: a URL, e-mail, IP, domain, host name, hash, CVE or free text. The
decision engine matches agents by it; agents use the parsed parts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from apps.agents.base import Task
from apps.agents.indicators import is_domain, refang, registrable_domain

# Kinds that are also plain text, so an agent that takes text takes them too.
TEXTUAL_KINDS = frozenset({"url", "email", "ip", "domain", "hostname", "hash", "cve", "text"})

_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]{0,63}@([a-z0-9.-]+)", re.IGNORECASE)
_HASH = re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", re.IGNORECASE)
_CVE = re.compile(r"CVE-\d{4}-\d{4,7}", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    raw: str
    kind: str  # url | email | ip | domain | hostname | hash | cve | text | none
    value: str  # refanged and normalised
    host: str = ""  # the host of a URL, the domain of an e-mail, the name or IP itself
    port: int | None = None
    scheme: str = ""

    @property
    def host_is_ip(self) -> bool:
        return _ip(self.host) is not None

    @property
    def registrable(self) -> str | None:
        return None if self.host_is_ip or not self.host else registrable_domain(self.host)


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None


def parse_target(raw: str) -> Target:
    text = (raw or "").strip()
    if not text:
        return Target(raw, "none", "")
    value = refang(text)
    if " " not in value and "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            try:
                port = parts.port
            except ValueError:
                port = None
            return Target(
                raw, "url", value, host=parts.hostname.lower(), port=port, scheme=parts.scheme.lower()
            )
    if (match := _EMAIL.fullmatch(value)) and is_domain(match.group(1)):
        return Target(raw, "email", value.lower(), host=match.group(1).lower())
    if (ip := _ip(value)) is not None:
        return Target(raw, "ip", ip, host=ip)
    name = value.lower().rstrip(".")
    if is_domain(name):
        kind = "domain" if registrable_domain(name) == name else "hostname"
        return Target(raw, kind, name, host=name)
    if _HASH.fullmatch(value):
        return Target(raw, "hash", value.lower())
    if _CVE.fullmatch(value):
        return Target(raw, "cve", value.upper())
    return Target(raw, "text", text)


def task_target_kinds(task: Task) -> set[str]:
    """The kinds a task offers to agents: its target's kind, plus `file` when it has attachments."""
    kinds = {parse_target(task.target).kind}
    # preview_has_files: the New task form's plan preview, before the files are stored.
    # files_attached: set by task_create, which has just stored the files (or none): no query.
    attached = getattr(task, "files_attached", None)
    if attached is None:
        attached = getattr(task, "preview_has_files", False) or bool(task.pk and task.artefacts.exists())
    if attached:
        kinds.add("file")
        kinds.discard("none")
    return kinds


def accepts_target(agent_kinds: frozenset[str], task_kinds: set[str]) -> bool:
    """An agent without declared target kinds takes anything; one that takes `text` takes any
    non-empty target (every target is text too)."""
    if not agent_kinds:
        return True
    if agent_kinds & task_kinds:
        return True
    return "text" in agent_kinds and bool(task_kinds & TEXTUAL_KINDS)
