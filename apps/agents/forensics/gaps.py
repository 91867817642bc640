"""What a forensic scan could not look at, read off the scan's nodes: parsers that failed,
members a limit kept unexpanded, encrypted content, a YARA scan that timed out."""

from __future__ import annotations

from apps.agents.coverage import Coverage


def record_gaps(coverage: Coverage, nodes: list[dict]) -> None:
    for n in nodes:
        path = n["path"]
        for kind, meta in n.get("metadata", {}).items():
            if isinstance(meta, dict) and meta.get("error"):
                reason = "encrypted" if "ncrypted" in meta["error"] else "parser_error"
                coverage.missed(f"{kind} parser on {path}", reason, meta["error"])
            if isinstance(meta, dict) and meta.get("truncated"):
                coverage.missed(f"end of {path}", "parser_error", meta["truncated"])
        yara = n.get("yara") or {}
        if yara.get("error"):
            reason = "timeout" if "timed out" in yara["error"] else "error"
            coverage.missed(f"YARA on {path}", reason, yara["error"])
        archive = n.get("archive")
        if archive is None:
            continue
        if archive.get("error"):
            coverage.missed(f"archive listing of {path}", "parser_error", archive["error"])
        if archive.get("depth_limit"):
            coverage.missed(f"members of {path}", "limit_hit", "nesting deeper than the depth limit")
        if archive.get("encrypted_members"):
            coverage.missed(
                f"members of {path}", "encrypted", f"{archive['encrypted_members']} password-protected"
            )
        for member in archive.get("members", []):
            if member.get("error"):
                coverage.missed(f"member {member['path']}", "parser_error", member["error"])
            elif member.get("skipped") and member["skipped"] != "password-protected":
                coverage.missed(f"member {member['path']}", "limit_hit", member["skipped"])
        rest = archive.get("unexpanded")
        if rest:
            how = "triaged by name and first bytes only" if rest["complete"] else "only partly triaged"
            coverage.missed(
                f"{rest['count']} member(s) of {path} past a limit", "limit_hit", f"not expanded; {how}"
            )
