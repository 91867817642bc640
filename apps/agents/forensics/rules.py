"""YARA rules and hash sets: the services that change them (admin calls these) and the read side
the agent uses (compiled ruleset, hash lookups)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yara
from django.db import transaction
from django.db.models import Q

from apps.agents.forensics.fuzzy import fuzzy_compare
from apps.agents.forensics_models import (
    HashAlgorithm,
    HashEntry,
    HashSet,
    HashSetKind,
    YaraRule,
    YaraRuleRevision,
)
from apps.core.exceptions import ValidationFailed

log = logging.getLogger(__name__)

# Externals every rule may use: `filename matches /\.pdf$/`, `filetype == "application/pdf"`.
YARA_EXTERNALS = {"filename": "", "extension": "", "filetype": ""}


# --------------------------------------------------------------------------- YARA: write side


def yara_compile_check(source: str) -> None:
    try:
        yara.compile(source=source, externals=YARA_EXTERNALS)
    except yara.SyntaxError as exc:
        raise ValidationFailed(f"YARA source does not compile: {exc}") from None


@transaction.atomic
def yara_rule_save(
    *,
    rule: YaraRule | None = None,
    name: str,
    source: str,
    severity: str,
    enabled: bool = True,
    description: str = "",
    by: Any = None,
) -> YaraRule:
    """Create or update a rule. A changed source is compiled first (refused if it fails), bumps
    the version and is kept as a revision."""
    yara_compile_check(source)
    if rule is None or rule.pk is None:
        rule = rule or YaraRule()
        rule.version = 1
        changed = True
    else:
        previous = YaraRule.objects.select_for_update().get(pk=rule.pk)
        changed = previous.source != source
        rule.version = previous.version + 1 if changed else previous.version
    rule.name, rule.source, rule.severity = name, source, severity
    rule.enabled, rule.description, rule.updated_by = enabled, description, by
    rule.save()
    if changed:
        YaraRuleRevision.objects.create(rule=rule, version=rule.version, source=source, created_by=by)
    return rule


# --------------------------------------------------------------------------- YARA: read side


@dataclass
class CompiledRuleset:
    version: str  # a digest of every enabled (rule id, version); shown in results
    rules: Any  # yara.Rules, or None when no rule is enabled
    names: dict[str, dict[str, Any]]  # namespace -> {"id", "version", "severity"}
    errors: list[str]

    @property
    def rule_count(self) -> int:
        """YARA rules (not rows: one row may hold many rules) that a scan applies."""
        return sum(1 for _ in self.rules) if self.rules is not None else 0


_cache_lock = threading.Lock()
_cache: dict[str, CompiledRuleset] = {}


def yara_ruleset() -> CompiledRuleset:
    """The enabled rules compiled once per process per ruleset version: a cheap query of
    (id, version) pairs decides whether the cached compilation is still current."""
    rows = list(YaraRule.objects.filter(enabled=True).order_by("id").values_list("id", "version"))
    version = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    with _cache_lock:
        cached = _cache.get("current")
        if cached is not None and cached.version == version:
            return cached
        ruleset = _compile([r for r in YaraRule.objects.filter(enabled=True).order_by("id")], version)
        _cache["current"] = ruleset
        return ruleset


def _compile(rows: list[YaraRule], version: str) -> CompiledRuleset:
    names = {r.name: {"id": r.id, "version": r.version, "severity": r.severity} for r in rows}
    sources = {r.name: r.source for r in rows}
    errors: list[str] = []
    if not sources:
        return CompiledRuleset(version, None, names, errors)
    try:
        return CompiledRuleset(
            version, yara.compile(sources=sources, externals=YARA_EXTERNALS), names, errors
        )
    except yara.Error as exc:
        # One bad row must not disable the others: drop the rows that fail on their own.
        log.warning("YARA ruleset did not compile as a whole: %s", exc)
    good = {}
    for name, source in sources.items():
        try:
            yara.compile(source=source, externals=YARA_EXTERNALS)
            good[name] = source
        except yara.Error as exc:
            errors.append(f"{name}: {exc}")
    rules = yara.compile(sources=good, externals=YARA_EXTERNALS) if good else None
    return CompiledRuleset(version, rules, {n: names[n] for n in good}, errors)


def yara_scan(ruleset: CompiledRuleset, data: bytes, *, filename: str, filetype: str, timeout: int) -> dict:
    if ruleset.rules is None:
        return {"ruleset_version": ruleset.version, "matches": []}
    externals = {
        "filename": filename,
        "extension": filename.rsplit(".", 1)[-1].lower() if "." in filename else "",
        "filetype": filetype,
    }
    try:
        matches = ruleset.rules.match(data=data, externals=externals, timeout=timeout)
    except yara.TimeoutError:
        return {"ruleset_version": ruleset.version, "matches": [], "error": "YARA scan timed out"}
    except yara.Error as exc:
        return {"ruleset_version": ruleset.version, "matches": [], "error": f"YARA scan failed: {exc}"}
    out = []
    for match in matches:
        row = ruleset.names.get(match.namespace, {})
        out.append(
            {
                "rule": match.rule,
                "namespace": match.namespace,
                "rule_version": row.get("version"),
                "tags": list(match.tags),
                "meta": {k: v for k, v in match.meta.items() if isinstance(v, str | int | bool)},
                "severity": str(match.meta.get("severity") or row.get("severity") or "suspicious").lower(),
                "strings": [
                    {
                        "identifier": s.identifier,
                        "matches": [
                            {"offset": i.offset, "data": i.matched_data[:64].decode("latin-1")}
                            for i in s.instances[:10]
                        ],
                        "count": len(s.instances),
                    }
                    for s in match.strings[:20]
                ],
            }
        )
    return {"ruleset_version": ruleset.version, "matches": out}


# --------------------------------------------------------------------------- hash sets

_HEX = re.compile(r"^[0-9a-f]+$")
_BY_LENGTH = {
    32: HashAlgorithm.MD5,
    40: HashAlgorithm.SHA1,
    64: HashAlgorithm.SHA256,
    128: HashAlgorithm.SHA512,
}
_SSDEEP = re.compile(r"^\d+:[A-Za-z0-9+/]+:[A-Za-z0-9+/]+$")
_SEPARATOR = re.compile(r"[,;\s]+")


def hash_algorithm_of(value: str) -> str | None:
    value = value.strip()
    if _SSDEEP.match(value):
        return HashAlgorithm.SSDEEP
    lowered = value.lower()
    return _BY_LENGTH.get(len(lowered)) if _HEX.match(lowered) else None


@transaction.atomic
def hash_set_import(*, hash_set: HashSet, text: str) -> dict[str, int]:
    """Add hashes from text: one per line, optionally `hash,note` (or tab-separated); `#` starts a
    comment. The algorithm comes from the hash's form. Returns counts of added/duplicate/invalid."""
    added = duplicate = invalid = 0
    existing = set(hash_set.entries.values_list("value", flat=True))
    batch = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # Neither hex digests nor ssdeep strings contain separators: the first one ends the hash.
        parts = _SEPARATOR.split(line, maxsplit=1)
        value, note = parts[0], (parts[1].strip().strip('"') if len(parts) > 1 else "")
        algorithm = hash_algorithm_of(value)
        if algorithm is None:
            invalid += 1
            continue
        value = value if algorithm == HashAlgorithm.SSDEEP else value.lower()
        if value in existing:
            duplicate += 1
            continue
        existing.add(value)
        batch.append(HashEntry(hash_set=hash_set, algorithm=algorithm, value=value, note=note[:500]))
        added += 1
    HashEntry.objects.bulk_create(batch, batch_size=1000)
    return {"added": added, "duplicate": duplicate, "invalid": invalid}


BUILTIN_YARA = Path(__file__).with_name("yara") / "amas_builtin.yar"
BUILTIN_YARA_NAME = "amas-builtin"


@transaction.atomic
def yara_builtin_install(*, by: Any = None) -> YaraRule:
    """Create or update the shipped rule set (apps/agents/forensics/yara/): versioned like any
    admin rule, so an update shows as a new revision."""
    source = BUILTIN_YARA.read_text()
    existing = YaraRule.objects.filter(name=BUILTIN_YARA_NAME).first()
    if existing is not None and existing.source == source:
        return existing  # `make run` installs on every start; an unchanged file is no new revision
    return yara_rule_save(
        rule=existing,
        name=BUILTIN_YARA_NAME,
        source=source,
        severity="suspicious",
        enabled=existing.enabled if existing else True,
        description="Rules shipped with AMAS (written for AMAS; source and licence in the file header).",
        by=by,
    )


@transaction.atomic
def hash_set_import_dpkg(*, info_dir: Path, name: str = "Debian installed packages") -> tuple[HashSet, dict]:
    """The installed Debian packages' file MD5s (`<info_dir>/*.md5sums`) as a global known-good
    set, each entry noted with its package and path. Re-running adds what is new."""
    hash_set, _ = HashSet.objects.get_or_create(
        name=name,
        organization=None,
        defaults={
            "kind": HashSetKind.KNOWN_GOOD,
            "source": f"dpkg md5sums in {info_dir}",
            "description": "Files of the packages installed on the AMAS host, as dpkg recorded them.",
        },
    )
    lines = []
    for path in sorted(Path(info_dir).glob("*.md5sums")):
        package = path.name.removesuffix(".md5sums")
        for raw in path.read_text(errors="replace").splitlines():
            digest, _, file_path = raw.strip().partition("  ")
            if digest:
                lines.append(f"{digest},{package}: /{file_path.strip()}")
    return hash_set, hash_set_import(hash_set=hash_set, text="\n".join(lines))


def hash_entries_count(*, organization_id: int) -> int:
    """How many hashes a lookup for the organization compares against (shown with results)."""
    return HashEntry.objects.filter(
        Q(hash_set__enabled=True)
        & (Q(hash_set__organization__isnull=True) | Q(hash_set__organization_id=organization_id))
    ).count()


def hash_sets_lookup(*, organization_id: int, values: set[str], ssdeeps: Set[str] = frozenset()) -> dict:
    """Entries matching any of `values` (hex digests) in the enabled sets visible to the
    organization, plus ssdeep entries at least 70 % similar to any of `ssdeeps`.
    Returns {value: [{"set", "kind", "note", "algorithm", ("similarity")}]}."""
    visible = Q(hash_set__enabled=True) & (
        Q(hash_set__organization__isnull=True) | Q(hash_set__organization_id=organization_id)
    )
    hits: dict[str, list[dict]] = {}
    if values:
        lowered = {v.lower() for v in values}
        rows = HashEntry.objects.filter(visible, value__in=lowered).select_related("hash_set")
        for entry in rows:
            hits.setdefault(entry.value, []).append(_hit(entry))
    if ssdeeps:
        # ssdeep strings are comparable only when their block sizes are equal or one step apart:
        # skip the others before the (pure-Python) comparison.
        wanted = {_block_size(f) for f in ssdeeps}
        wanted |= {b * 2 for b in wanted} | {b // 2 for b in wanted}
        candidates = HashEntry.objects.filter(visible, algorithm=HashAlgorithm.SSDEEP).select_related(
            "hash_set"
        )
        for entry in candidates[:50_000]:
            if _block_size(entry.value) not in wanted:
                continue
            for fuzzy in ssdeeps:
                score = fuzzy_compare(fuzzy, entry.value)
                if score >= 70:
                    hits.setdefault(fuzzy, []).append({**_hit(entry), "similarity": score})
    return hits


def _block_size(fuzzy: str) -> int:
    head = fuzzy.split(":", 1)[0]
    return int(head) if head.isdigit() else -1


def _hit(entry: HashEntry) -> dict:
    return {
        "set": entry.hash_set.name,
        "kind": entry.hash_set.kind,
        "known_bad": entry.hash_set.kind == HashSetKind.KNOWN_BAD,
        "algorithm": entry.algorithm,
        "value": entry.value,
        "note": entry.note,
    }
