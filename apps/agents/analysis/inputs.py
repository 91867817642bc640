"""Reading what users attach: text out of documents (txt, md, html, pdf, docx) and tables out of
CSV, JSON lines and Excel files. Malformed input raises InputError with a message for the user."""

from __future__ import annotations

import csv
import html.parser
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from apps.agents.forensics import filetype as ft

Progress = Callable[[float, str], None]

TABULAR_EXTENSIONS = {"csv", "tsv", "jsonl", "ndjson", "json", "xlsx", "xlsm"}
TEXT_EXTENSIONS = {"txt", "md", "markdown", "html", "htm", "pdf", "docx", "log", "text", "rst", ""}


class InputError(Exception):
    """The file cannot be read as what it claims to be; the message is for the user."""


def kind_of(data: bytes, name: str) -> str:
    """'table' or 'text' (or 'binary' for content neither reader takes)."""
    detected = ft.detect(data[:65536] if not data.startswith(b"PK") else data)
    ext = ft.extension_of(name)
    if detected in (ft.XLSX,):
        return "table"
    if detected in (ft.PDF, ft.DOCX, ft.HTML):
        return "text"
    if detected in (ft.TEXT, ft.UTF16_TEXT, ft.XML, ft.EMPTY, ft.SCRIPT):
        if ext in TABULAR_EXTENSIONS:
            return "table"
        return "table" if ext not in TEXT_EXTENSIONS and _looks_delimited(data) else "text"
    return "binary"


def _looks_delimited(data: bytes) -> bool:
    lines = decode(data[:16384]).splitlines()[:20]
    if len(lines) < 3:
        return False
    for delimiter in (",", ";", "\t", "|"):
        counts = {line.count(delimiter) for line in lines if line.strip()}
        if len(counts) == 1 and counts.pop() > 0:
            return True
    return False


def decode(data: bytes) -> str:
    """Text from bytes: BOMs honoured, UTF-8 preferred, cp1252 as the last resort (never fails)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # cut mid-character at a read limit
            return data[: exc.start].decode("utf-8")
    return data.decode("cp1252", "replace")


# ---------------------------------------------------------------------------- text


@dataclass
class Document:
    name: str
    format: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def extract_text(data: bytes, name: str, *, max_chars: int, progress: Progress | None = None) -> Document:
    detected = ft.detect(data)
    ext = ft.extension_of(name)
    if detected == ft.PDF:
        doc = _pdf(data, name, progress)
    elif detected == ft.DOCX:
        doc = _docx(data, name)
    elif detected == ft.HTML or ext in ("html", "htm"):
        doc = Document(name, "html", html_to_text(decode(data)))
    elif detected in (ft.TEXT, ft.UTF16_TEXT, ft.XML, ft.SCRIPT, ft.EMPTY):
        text = decode(data)
        doc = Document(
            name,
            "markdown" if ext in ("md", "markdown") else "text",
            markdown_to_text(text) if ext in ("md", "markdown") else text,
        )
    else:
        raise InputError(
            f"{name}: {detected.label} is not a document this agent reads (txt, md, html, pdf, docx)."
        )
    text = doc.text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > max_chars:
        doc.meta["truncated_at_chars"] = max_chars
        text = text[:max_chars]
    doc.text = text
    if not text.strip():
        raise InputError(
            f"{name}: no text could be extracted (scanned images need OCR, which AMAS does not do)."
        )
    return doc


def _pdf(data: bytes, name: str, progress: Progress | None) -> Document:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            reader.decrypt("")
        pages = []
        count = len(reader.pages)
        for number, page in enumerate(reader.pages):
            pages.append(page.extract_text() or "")
            if progress and count > 5 and number % 5 == 0:
                progress(number / count, f"{name}: page {number + 1} of {count}")
    except Exception as exc:  # pypdf raises many types on broken files
        raise InputError(f"{name}: unreadable PDF ({exc}).") from None
    info = {str(k).lstrip("/"): str(v)[:300] for k, v in (reader.metadata or {}).items()}
    return Document(name, "pdf", "\n\n".join(pages), {"pages": count, "info": info})


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(data: bytes, name: str) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > 50 * 1024 * 1024:
                raise InputError(f"{name}: the document body is too large.")
            root = ElementTree.fromstring(archive.read(info))  # noqa: S314 - size-capped
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError) as exc:
        raise InputError(f"{name}: unreadable Word document ({exc}).") from None
    paragraphs = []
    for paragraph in root.iter(f"{_W}p"):
        parts = []
        for node in paragraph.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag in (f"{_W}tab",):
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
        paragraphs.append("".join(parts))
    return Document(
        name, "docx", "\n\n".join(p for p in paragraphs if p.strip()), {"paragraphs": len(paragraphs)}
    )


class _HTMLText(html.parser.HTMLParser):
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "blockquote",
        "pre",
        "header",
        "footer",
        "ul",
        "ol",
        "title",
    }
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    return re.sub(r"\n\s*\n\s*", "\n\n", text).strip()


def markdown_to_text(text: str) -> str:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks are not prose
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"^\s*[-*+]\s+", "", text, flags=re.M)
    text = re.sub(r"^\s*>\s?", "", text, flags=re.M)
    text = re.sub(r"(\*\*|\*|`)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    # `_` inside a word (CODE_OF_CONDUCT.md, snake_case) is no emphasis (CommonMark flanking rule)
    return re.sub(r"(?<![\w\\])(__|_)(?=\S)(.+?)(?<=\S)\1(?!\w)", r"\2", text)


# ---------------------------------------------------------------------------- tables


@dataclass
class Table:
    name: str
    format: str
    columns: list[str]
    rows: list[list[Any]]  # cells: str, int, float, bool, datetime or None
    notes: list[str] = field(default_factory=list)
    truncated: bool = False


def read_table(data: bytes, name: str, *, max_rows: int, progress: Progress | None = None) -> Table:
    detected = ft.detect(data)
    ext = ft.extension_of(name)
    if detected == ft.XLSX or ext in ("xlsx", "xlsm") and detected in (ft.ZIP, ft.XLSX):
        return _xlsx(data, name, max_rows, progress)
    if detected not in (ft.TEXT, ft.UTF16_TEXT, ft.EMPTY, ft.SCRIPT, ft.XML):
        raise InputError(
            f"{name}: {detected.label} is not a table this agent reads (CSV, JSON lines, Excel)."
        )
    text = decode(data)
    stripped = text.lstrip()
    if ext in ("jsonl", "ndjson", "json") or stripped.startswith(("{", "[")):
        return _json(text, name, max_rows, progress)
    return _csv(text, name, max_rows, progress)


def _csv(text: str, name: str, max_rows: int, progress: Progress | None) -> Table:
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{name}: the file is empty.") from None
    except csv.Error as exc:
        raise InputError(f"{name}: not valid CSV ({exc}).") from None
    columns = _column_names(header)
    if len(columns) < 1 or (len(columns) == 1 and not text.strip()):
        raise InputError(f"{name}: no columns found.")
    rows, ragged, table_notes = [], 0, []
    total_hint = max(1, text.count("\n"))
    try:
        for line_number, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                ragged += 1
                row = (row + [""] * len(columns))[: len(columns)]
            rows.append([cell.strip() or None for cell in row])
            if len(rows) >= max_rows:
                table_notes.append(f"only the first {max_rows} rows were read")
                break
            if progress and line_number % 50_000 == 0:
                progress(line_number / total_hint, f"{name}: {line_number} rows read")
    except csv.Error as exc:
        raise InputError(f"{name}: not valid CSV at line {reader.line_num} ({exc}).") from None
    if not rows:
        raise InputError(f"{name}: a header but no data rows.")
    if ragged > len(rows) / 2:
        raise InputError(
            f"{name}: {ragged} of {len(rows)} rows do not have {len(columns)} fields; "
            "the delimiter or quoting is not consistent."
        )
    if ragged:
        table_notes.append(f"{ragged} row(s) had a different number of fields and were padded or cut")
    return Table(name, "csv", columns, rows, table_notes, truncated=len(rows) >= max_rows)


def _json(text: str, name: str, max_rows: int, progress: Progress | None) -> Table:
    records: list[dict] = []
    bad = 0
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not valid JSON ({exc}).") from None
        candidates = loaded if isinstance(loaded, list) else []
        records = [r for r in candidates[:max_rows] if isinstance(r, dict)]
        bad = len(candidates[:max_rows]) - len(records)
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(value, dict):
                records.append(value)
            else:
                bad += 1
            if len(records) >= max_rows:
                break
            if progress and number % 50_000 == 0:
                progress(0.5, f"{name}: {number} lines read")
    if not records:
        raise InputError(f"{name}: no JSON objects found ({bad} line(s) were not JSON objects).")
    columns: list[str] = []
    for record in records[:1000]:
        for key in record:
            if key not in columns:
                columns.append(str(key))
    rows = [[_json_cell(record.get(c)) for c in columns] for record in records]
    notes = [f"{bad} line(s) were not JSON objects and were skipped"] if bad else []
    return Table(name, "jsonl", columns, rows, notes, truncated=len(records) >= max_rows)


def _json_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)[:1000]
    return value


def _xlsx(data: bytes, name: str, max_rows: int, progress: Progress | None) -> Table:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on broken files
        raise InputError(f"{name}: unreadable Excel workbook ({exc}).") from None
    try:
        sheet = next(
            (ws for ws in workbook.worksheets if ws.max_row and ws.max_row > 1), workbook.worksheets[0]
        )
        iterator = sheet.iter_rows(values_only=True)
        header = next(iterator, None)
        if header is None:
            raise InputError(f"{name}: the first sheet is empty.")
        columns = _column_names(["" if h is None else str(h) for h in header])
        rows = []
        for row in iterator:
            if row is None or all(v is None or v == "" for v in row):
                continue
            rows.append(
                [
                    (v.strip() or None) if isinstance(v, str) else v
                    for v in (list(row) + [None] * len(columns))[: len(columns)]
                ]
            )
            if len(rows) >= max_rows:
                break
            if progress and len(rows) % 50_000 == 0:
                progress(0.5, f"{name}: {len(rows)} rows read")
        notes = [f"sheet {sheet.title!r} of {len(workbook.worksheets)}"]
    finally:
        workbook.close()
    if not rows:
        raise InputError(f"{name}: a header but no data rows.")
    return Table(name, "xlsx", columns, rows, notes, truncated=len(rows) >= max_rows)


def _column_names(header: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = (raw or "").strip() or f"column_{index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        names.append(name)
    return names
