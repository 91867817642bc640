"""One file (or archive member) through every forensic measure, with the findings each raises.
Members of archives go through the same scan, recursively, within the expansion budget."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.agents.forensics import filetype as ft
from apps.agents.forensics.archives import ExpansionBudget, expand_archive, is_archive
from apps.agents.forensics.content import (
    entropy_profile,
    extract_strings,
    hashes,
    interesting_strings,
)
from apps.agents.forensics.metadata import image_metadata, ooxml_metadata
from apps.agents.forensics.pdf import pdf_metadata
from apps.agents.forensics.pe import pe_metadata
from apps.agents.forensics.rules import CompiledRuleset, yara_scan
from apps.agents.forensics.verdict import finding
from apps.agents.forensics.xmp import xmp_metadata
from apps.agents.indicators import extract_indicators

IMAGE_TYPES = {ft.PNG, ft.JPEG, ft.GIF, ft.TIFF, ft.WEBP, ft.BMP}
OOXML_TYPES = {ft.DOCX, ft.XLSX, ft.PPTX}
PE_TYPES = {ft.PE_EXE, ft.PE_DLL}
# Types that run no code by themselves (their active parts — macros, scripts — raise findings).
PASSIVE_TYPES = (
    IMAGE_TYPES
    | OOXML_TYPES
    | {
        ft.PDF,
        ft.TEXT,
        ft.UTF16_TEXT,
        ft.ZIP,
        ft.TAR,
        ft.GZIP,
        ft.BZIP2,
        ft.XZ,
        ft.ODF,
        ft.EMPTY,
        ft.XML,
        ft.ICO,
        ft.SQLITE,
    }
)


@dataclass
class ScanOptions:
    strings: bool = True
    min_string_length: int = 5
    max_strings: int = 5000
    yara_timeout: int = 60


class Scanner:
    def __init__(
        self, *, ruleset: CompiledRuleset | None, options: ScanOptions, budget: ExpansionBudget
    ) -> None:
        self.ruleset = ruleset
        self.options = options
        self.budget = budget

    def scan(self, data: bytes, *, name: str, path: str, depth: int = 0) -> dict[str, Any]:
        file_type = ft.detect(data)
        node: dict[str, Any] = {
            "name": name.rsplit("/", 1)[-1],
            "path": path,
            "depth": depth,
            "size": len(data),
            "hashes": hashes(data),
            "type": {"mime": file_type.mime, "label": file_type.label, "executable": file_type.executable},
            "extension": ft.extension_check(name, file_type),
            "entropy": entropy_profile(data),
            "metadata": {},
            "findings": [],
            "passive": file_type in PASSIVE_TYPES,
        }
        self._extension_findings(node)
        if self.options.strings and data:
            self._strings(node, data)
        try:
            self._metadata(node, data, file_type)
        except Exception as exc:  # one parser's bug on hostile input must not lose the file
            node["metadata"]["parser"] = {"error": f"{type(exc).__name__}: {exc}"}
        if (xmp := xmp_metadata(data)) is not None:
            node["metadata"]["xmp"] = xmp
        if truncated := _truncation(data, file_type, node["metadata"]):
            node["metadata"].setdefault("truncation", {})["truncated"] = truncated
        if self.ruleset is not None:
            node["yara"] = yara_scan(
                self.ruleset,
                data,
                filename=node["name"],
                filetype=file_type.mime,
                timeout=self.options.yara_timeout,
            )
            self._yara_findings(node)
        if is_archive(file_type):
            node["archive"] = expand_archive(
                data,
                file_type,
                path=path,
                depth=depth + 1,
                budget=self.budget,
                analyse=lambda content, member_path, d: self.scan(
                    content, name=member_path, path=member_path, depth=d
                ),
            )
            self._archive_findings(node)
        if file_type in PE_TYPES or (file_type.executable and depth > 0):
            node["findings"].append(
                finding(
                    # Not suspicious by itself: wheels carry .so files and launchers, installers
                    # carry EXEs. Disguise (names, extensions) raises its own findings.
                    "executable_content",
                    "info" if depth == 0 else "low",
                    f"{file_type.label}" + (" inside an archive" if depth else ""),
                    path=path,
                )
            )
        return node

    # ------------------------------------------------------------------ measures

    def _strings(self, node: dict, data: bytes) -> None:
        found = extract_strings(
            data, min_length=self.options.min_string_length, limit=self.options.max_strings
        )
        # Indicators over all strings at once; positions map back to file offsets.
        starts, text_parts, position = [], [], 0
        for item in found:
            starts.append(position)
            text_parts.append(item["value"])
            position += len(item["value"]) + 1
        text = "\n".join(text_parts)
        indicators: dict[tuple[str, str], dict] = {}
        for indicator in extract_indicators(text):
            index = bisect.bisect_right(starts, indicator.start) - 1
            item = found[index]
            if indicator.kind == "ipv4" and _version_context(found, index):
                continue  # "FileVersion 10.0.19041.1" is a version number, not an address
            key = (indicator.kind, indicator.value)
            if key in indicators:
                indicators[key]["count"] += 1
                continue
            offset = item["offset"] + (indicator.start - starts[index]) * (
                2 if item["encoding"] == "utf-16le" else 1
            )
            indicators[key] = {
                "kind": indicator.kind,
                "value": indicator.value,
                "offset": offset,
                "encoding": item["encoding"],
                "defanged": indicator.defanged,
                "confidence": indicator.confidence,
                "count": 1,
            }
        node["strings"] = {
            "total": len(found),
            "truncated": len(found) >= self.options.max_strings,
            "items": found,
            "interesting": interesting_strings(found),
        }
        node["indicators"] = list(indicators.values())[:1000]
        if node["indicators"]:
            kinds = sorted({i["kind"] for i in node["indicators"]})
            node["findings"].append(
                finding(
                    "indicators_found",
                    "info",
                    f"{len(node['indicators'])} indicator(s) in strings ({', '.join(kinds)})",
                    path=node["path"],
                )
            )

    def _metadata(self, node: dict, data: bytes, file_type: ft.FileType) -> None:
        path = node["path"]
        add = node["findings"].append
        if file_type in IMAGE_TYPES:
            meta = node["metadata"]["image"] = image_metadata(data)
            if meta.get("gps") and meta["gps"].get("latitude") is not None:
                add(
                    finding(
                        "image_gps",
                        "info",
                        "Image carries a GPS position",
                        path=path,
                        detail=f"{meta['gps']['latitude']}, {meta['gps']['longitude']}",
                    )
                )
        elif file_type == ft.PDF:
            meta = node["metadata"]["pdf"] = pdf_metadata(data)
            self._pdf_findings(meta, path, add)
        elif file_type in OOXML_TYPES:
            meta = node["metadata"]["office"] = ooxml_metadata(data)
            self._office_findings(meta, path, add)
        elif file_type == ft.OLE:
            macros = b"_VBA_PROJECT" in data or b"V\x00B\x00A\x00" in data
            node["metadata"]["ole"] = {"macros_present": macros}
            if macros:
                add(finding("office_macros", "high", "Legacy Office file with a VBA project", path=path))
        elif file_type in PE_TYPES:
            meta = node["metadata"]["pe"] = pe_metadata(data)
            self._pe_findings(meta, path, add)

    # ------------------------------------------------------------------ rules per kind of evidence

    def _extension_findings(self, node: dict) -> None:
        ext, path = node["extension"], node["path"]
        if ext["risky"]:
            node["findings"].append(
                finding(
                    "extension_masquerade",
                    "high",
                    f"{node['type']['label']} disguised with a .{ext['extension']} extension",
                    path=path,
                )
            )
        elif ext["mismatch"]:
            node["findings"].append(
                finding(
                    "extension_mismatch",
                    "medium",
                    f"Extension .{ext['extension']} does not match the content ({node['type']['label']})",
                    path=path,
                    detail=f"expected one of: {', '.join(ext['expected_extensions']) or 'none'}",
                )
            )
        if ext["double_extension"]:
            node["findings"].append(
                finding("double_extension", "high", "Double extension hides the real type", path=path)
            )
        if (
            not node["type"]["executable"]
            and node["type"]["mime"] == "application/octet-stream"
            and node["entropy"]["overall"] >= 7.5
            and node["size"] >= 4096
        ):
            node["findings"].append(
                finding(
                    "high_entropy_unknown",
                    "low",
                    "Unrecognised content with near-random bytes (encrypted or compressed?)",
                    path=path,
                )
            )

    def _pdf_findings(self, meta: dict, path: str, add: Any) -> None:
        counts = meta.get("keywords", {})
        if meta.get("javascript") or counts.get("/JS") or counts.get("/JavaScript"):
            add(
                finding(
                    "pdf_javascript",
                    "high",
                    "PDF contains JavaScript",
                    path=path,
                    detail=(meta.get("javascript") or [""])[0][:300],
                )
            )
        if meta.get("launch_actions") or counts.get("/Launch"):
            add(
                finding(
                    "pdf_launch",
                    "high",
                    "PDF has a Launch action (runs a program)",
                    path=path,
                    detail=", ".join(meta.get("launch_actions", []))[:300],
                )
            )
        if meta.get("open_action") in ("/JavaScript", "/Launch") or (
            counts.get("/OpenAction") and counts.get("/JS")
        ):
            add(finding("pdf_auto_action", "high", "PDF runs an action when opened", path=path))
        if meta.get("embedded_files") or counts.get("/EmbeddedFile"):
            add(
                finding(
                    "pdf_embedded_file",
                    "medium",
                    "PDF embeds files",
                    path=path,
                    detail=", ".join(meta.get("embedded_files", []))[:300],
                )
            )
        if meta.get("obfuscated_names"):
            add(
                finding(
                    "pdf_obfuscated_names",
                    "medium",
                    "PDF names spelt with #xx escapes (obfuscation)",
                    path=path,
                )
            )
        if counts.get("/RichMedia") or counts.get("/XFA"):
            add(finding("pdf_rich_content", "low", "PDF has RichMedia or XFA forms", path=path))
        if meta.get("uris"):
            add(finding("pdf_links", "info", f"PDF links to {len(meta['uris'])} URI(s)", path=path))

    def _office_findings(self, meta: dict, path: str, add: Any) -> None:
        if meta.get("macros", {}).get("present"):
            add(
                finding(
                    "office_macros",
                    "high",
                    "Office document contains VBA macros",
                    path=path,
                    detail=", ".join(meta["macros"]["vba_parts"]),
                )
            )
        templates = [
            r
            for r in meta.get("external_relationships", [])
            if r["type"] in ("attachedTemplate", "oleObject", "frame", "subDocument")
        ]
        if templates:
            add(
                finding(
                    "office_remote_template",
                    "high",
                    "Office document loads a remote template or object",
                    path=path,
                    detail=templates[0]["target"],
                )
            )
        if meta.get("activex"):
            add(finding("office_activex", "medium", "Office document contains ActiveX controls", path=path))
        if meta.get("embedded_objects"):
            add(finding("office_embedded_objects", "low", "Office document embeds objects", path=path))

    def _pe_findings(self, meta: dict, path: str, add: Any) -> None:
        if "error" in meta:
            add(finding("pe_malformed", "medium", "Malformed PE headers", path=path, detail=meta["error"]))
            return
        apis = meta.get("suspicious_apis", {})
        if "process_injection" in apis:
            add(
                finding(
                    "pe_injection_apis",
                    "high",
                    "Imports process-injection APIs",
                    path=path,
                    detail=", ".join(apis["process_injection"]),
                )
            )
        others = [g for g in apis if g not in ("process_injection", "dynamic_loading")]
        if len(others) >= 2:
            add(finding("pe_capability_mix", "medium", f"Imports APIs for {', '.join(others)}", path=path))
        if meta.get("packer_sections"):
            add(
                finding(
                    "pe_packed",
                    "medium",
                    f"Packer section names: {', '.join(meta['packer_sections'])}",
                    path=path,
                )
            )
        packed = [s["name"] for s in meta.get("sections", []) if s["executable"] and s["entropy"] > 7.2]
        if packed:
            add(
                finding(
                    "pe_high_entropy_code",
                    "medium",
                    f"Executable section(s) near-random: {', '.join(packed)}",
                    path=path,
                )
            )
        if meta.get("writable_executable_sections"):
            add(
                finding(
                    "pe_wx_section",
                    "medium",
                    "Section both writable and executable",
                    path=path,
                    detail=", ".join(meta["writable_executable_sections"]),
                )
            )
        if meta.get("entry_outside_sections"):
            add(finding("pe_entry_outside", "medium", "Entry point outside every section", path=path))
        compiled = meta.get("compile_time")
        if compiled and datetime.fromisoformat(compiled.replace("Z", "+00:00")) > datetime.now(
            UTC
        ) + timedelta(days=1):
            add(
                finding(
                    "pe_future_timestamp",
                    "low",
                    "Compile time in the future (forged)",
                    path=path,
                    detail=compiled,
                )
            )

    def _yara_findings(self, node: dict) -> None:
        severity_map = {
            "malicious": "critical",
            "suspicious": "high",
            "info": "info",
            "high": "high",
            "critical": "critical",
            "medium": "medium",
            "low": "low",
        }
        for match in node["yara"].get("matches", []):
            severity = severity_map.get(match["severity"], "high")
            node["findings"].append(
                finding(
                    "yara_match",
                    severity,
                    f"YARA rule {match['namespace']}.{match['rule']}",
                    path=node["path"],
                    detail=match["meta"].get("description", ""),
                )
            )

    def _archive_findings(self, node: dict) -> None:
        archive, path = node["archive"], node["path"]
        add = node["findings"].append
        if archive.get("bomb"):
            add(
                finding(
                    "archive_bomb", "high", "Decompression bomb: expansion stopped at the limit", path=path
                )
            )
        if archive.get("encrypted_members"):
            add(
                finding(
                    "archive_encrypted",
                    "medium",
                    f"Password-protected archive ({archive['encrypted_members']} member(s) not inspected)",
                    path=path,
                )
            )
        if archive.get("path_traversal"):
            add(
                finding(
                    "archive_path_traversal",
                    "high",
                    "Archive member names escape the extraction folder",
                    path=path,
                    detail=", ".join(archive["path_traversal"][:5]),
                )
            )
        if archive.get("depth_limit"):
            add(
                finding(
                    "archive_depth_limit",
                    "low",
                    "Archive nesting beyond the depth limit was not inspected",
                    path=path,
                )
            )
        rest = archive.get("unexpanded") or {}
        flagged = rest.get("flagged", [])
        disguised = [
            m
            for m in flagged
            if any(r.startswith(("double", "executable header behind")) for r in m["reasons"])
        ]
        plain = [m for m in flagged if m not in disguised and m["reasons"] != ["encrypted"]]
        for members, severity, what in (
            (disguised, "high", "disguised as documents"),
            (plain, "low", "executables or scripts"),
        ):
            if members:
                add(
                    finding(
                        "archive_hidden_members",
                        severity,
                        f"{len(members)} member(s) past the expansion limit are {what}",
                        path=path,
                        detail="; ".join(f"{m['name']}: {', '.join(m['reasons'])}" for m in members[:5]),
                    )
                )
        if archive.get("error"):
            add(finding("archive_corrupt", "low", archive["error"], path=path))
        broken = [m["name"] for m in archive.get("members", []) if m.get("error")]
        if broken:
            add(
                finding(
                    "archive_member_unreadable",
                    "low",
                    f"{len(broken)} member(s) could not be expanded (corrupt or tampered)",
                    path=path,
                    detail=", ".join(broken[:5]),
                )
            )


def _version_context(found: list[dict], index: int) -> bool:
    """A dotted quad in a version resource: the string itself or the key just before it (PE
    version info stores 'FileVersion' and its value as neighbouring UTF-16 strings) names a
    version."""
    window = found[max(0, index - 2) : index + 1]
    return any("version" in item["value"].lower() for item in window)


def _truncation(data: bytes, file_type: ft.FileType, metadata: dict) -> str:
    """Why the file looks cut short (parsers that read headers only do not notice), or ''."""
    if file_type == ft.JPEG and data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        return "JPEG has no end-of-image marker: the file is truncated"
    if file_type == ft.PNG and b"IEND" not in data[-64:]:
        return "PNG has no IEND chunk: the file is truncated"
    if file_type == ft.PDF and b"%%EOF" not in data[-2048:]:
        return "PDF has no %%EOF marker at its end: the file is truncated or has trailing data"
    for section in (metadata.get("pe") or {}).get("sections", []):
        if section["raw_size"] and section["raw_offset"] + section["raw_size"] > len(data):
            return f"PE section {section['name']!r} extends past the end of the file: truncated"
    return ""


def walk(node: dict) -> list[dict]:
    """A node and every member node below it."""
    out = [node]
    for member in node.get("archive", {}).get("members", []):
        if "analysis" in member:
            out.extend(walk(member["analysis"]))
    return out
