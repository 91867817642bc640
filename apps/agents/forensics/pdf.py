"""PDF metadata and active content: document info, page count, encryption, and the actions that
run something when the file is opened (JavaScript, Launch, OpenAction, auto actions, embedded
files). Keyword counts over the raw bytes (as pdfid does) catch what the object parser misses in
broken files; the object walk through pypdf extracts the scripts and launch targets themselves."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from apps.agents.forensics.timeline import iso

log = logging.getLogger(__name__)

KEYWORDS = (
    "/JS",
    "/JavaScript",
    "/Launch",
    "/OpenAction",
    "/AA",
    "/EmbeddedFile",
    "/RichMedia",
    "/XFA",
    "/AcroForm",
    "/URI",
    "/SubmitForm",
    "/GoToR",
    "/ObjStm",
    "/Encrypt",
    "/JBIG2Decode",
)
_NAME = re.compile(rb"/[A-Za-z0-9#]+")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_MAX_OBJECTS = 20_000


def keyword_counts(data: bytes) -> dict[str, Any]:
    counts = dict.fromkeys(KEYWORDS, 0)
    obfuscated = 0
    for match in _NAME.finditer(data):
        raw = match.group()
        name = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw) if b"#" in raw else raw
        text = name.decode("latin-1")
        if text in counts:
            counts[text] += 1
            if name != raw:
                obfuscated += 1  # a name spelt with #xx escapes hides from naive scanners
    return {
        "keywords": counts,
        "obfuscated_names": obfuscated,
        "objects": data.count(b" obj"),
        "streams": data.count(b"stream\r") + data.count(b"stream\n"),
    }


def pdf_metadata(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = keyword_counts(data)
    out.update(
        info={},
        pages=None,
        encrypted=False,
        javascript=[],
        launch_actions=[],
        uris=[],
        open_action=None,
        embedded_files=[],
        timestamps=[],
    )
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        reader = PdfReader(io.BytesIO(data), strict=False)
    except Exception as exc:  # pypdf raises many types on hostile input
        out["error"] = f"Unparseable PDF structure: {exc}"
        return out
    try:
        out["encrypted"] = bool(reader.is_encrypted)
        if reader.is_encrypted:
            try:
                reader.decrypt("")  # many "encrypted" PDFs use an empty user password
            except Exception as exc:
                out["error"] = f"Encrypted PDF: {exc}"
                return out
        out["pages"] = len(reader.pages)
        info = dict(reader.metadata or {})
        out["info"] = {str(k).lstrip("/"): str(v)[:500] for k, v in info.items()}
        out["header_version"] = reader.pdf_header
        for key, what in (("CreationDate", "created"), ("ModDate", "modified")):
            if stamp := iso(out["info"].get(key, "")):
                out["timestamps"].append({"value": stamp, "event": f"document {what} (PDF info)"})
        _walk_actions(reader, out)
    except (PdfReadError, Exception) as exc:  # keep partial results on any parser error
        log.info("PDF walk stopped: %s", exc)
        out["error"] = f"PDF partly parsed: {exc}"
    return out


def _walk_actions(reader: Any, out: dict[str, Any]) -> None:
    """Visit every indirect object once and record actions by their /S type."""
    from pypdf.generic import DictionaryObject, IndirectObject, StreamObject

    root = reader.trailer["/Root"]
    open_action = root.get("/OpenAction")
    if open_action is not None:
        resolved = open_action.get_object()
        out["open_action"] = (
            str(resolved.get("/S", "destination")) if isinstance(resolved, dict) else "destination"
        )
    names_tree = root.get("/Names")
    if names_tree is not None and "/EmbeddedFiles" in names_tree.get_object():
        for name in _name_tree_keys(names_tree.get_object()["/EmbeddedFiles"].get_object()):
            out["embedded_files"].append(name)
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    while stack and len(seen) < _MAX_OBJECTS:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            try:
                item = item.get_object()
            except Exception:  # noqa: S112 - a dangling reference in a broken file
                continue
        if isinstance(item, DictionaryObject | StreamObject):
            _record_action(item, out)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _record_action(obj: Any, out: dict[str, Any]) -> None:
    kind = obj.get("/S")
    if kind == "/JavaScript" or "/JS" in obj:
        script = obj.get("/JS")
        if script is not None:
            script = script.get_object()
            code = (
                script.get_data().decode("latin-1", "replace") if hasattr(script, "get_data") else str(script)
            )
            if code and code[:2000] not in out["javascript"] and len(out["javascript"]) < 20:
                out["javascript"].append(code[:2000])
    elif kind == "/Launch":
        target = obj.get("/F") or obj.get("/Win")
        if target is not None:
            target = target.get_object()
            if isinstance(target, dict):
                target = target.get("/F") or target.get("/UF") or str(target)
        out["launch_actions"].append(str(target)[:500])
    elif kind == "/URI" and "/URI" in obj and len(out["uris"]) < 200:
        out["uris"].append(str(obj["/URI"])[:2000])


def _name_tree_keys(node: Any, depth: int = 0) -> list[str]:
    if depth > 10:
        return []
    keys: list[str] = []
    names = node.get("/Names") or []
    keys.extend(str(names[i]) for i in range(0, len(names), 2))
    for kid in node.get("/Kids") or []:
        keys.extend(_name_tree_keys(kid.get_object(), depth + 1))
    return keys[:100]
