"""File type from content (magic bytes and container structure), never from the name; and whether
the name's extension lies about it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    mime: str
    label: str
    extensions: tuple[str, ...]  # what a truthful name of this type ends with
    executable: bool = False  # runs code when opened (for the mismatch rules)


def _t(mime: str, label: str, *exts: str, executable: bool = False) -> FileType:
    return FileType(mime, label, exts, executable)


PE_EXE = _t(
    "application/vnd.microsoft.portable-executable",
    "PE executable",
    "exe",
    "scr",
    "com",
    "cpl",
    executable=True,
)
PE_DLL = _t("application/x-msdownload", "PE DLL", "dll", "ocx", "sys", "drv", "cpl", executable=True)
ELF = _t("application/x-elf", "ELF executable", "", "so", "o", "elf", "bin", executable=True)
MACHO = _t("application/x-mach-binary", "Mach-O executable", "", "dylib", "bin", executable=True)
PDF = _t("application/pdf", "PDF document", "pdf")
ZIP = _t("application/zip", "ZIP archive", "zip")
JAR = _t("application/java-archive", "Java archive", "jar", executable=True)
APK = _t("application/vnd.android.package-archive", "Android package", "apk", executable=True)
DOCX = _t(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "Word document",
    "docx",
    "docm",
    "dotx",
    "dotm",
)
XLSX = _t(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "Excel workbook",
    "xlsx",
    "xlsm",
    "xltx",
    "xltm",
)
PPTX = _t(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "PowerPoint deck",
    "pptx",
    "pptm",
    "potx",
    "ppsx",
)
ODF = _t("application/vnd.oasis.opendocument", "OpenDocument file", "odt", "ods", "odp")
OLE = _t(
    "application/x-ole-storage",
    "OLE compound file (legacy Office, MSI)",
    "doc",
    "xls",
    "ppt",
    "msi",
    "msg",
    "dot",
    "xlt",
)
RTF = _t("text/rtf", "RTF document", "rtf", "doc")
PNG = _t("image/png", "PNG image", "png")
JPEG = _t("image/jpeg", "JPEG image", "jpg", "jpeg", "jpe", "jfif")
GIF = _t("image/gif", "GIF image", "gif")
BMP = _t("image/bmp", "BMP image", "bmp", "dib")
TIFF = _t("image/tiff", "TIFF image", "tif", "tiff", "dng", "nef", "cr2")
WEBP = _t("image/webp", "WebP image", "webp")
ICO = _t("image/x-icon", "Windows icon", "ico", "cur")
GZIP = _t("application/gzip", "gzip stream", "gz", "tgz")
BZIP2 = _t("application/x-bzip2", "bzip2 stream", "bz2", "tbz2")
XZ = _t("application/x-xz", "xz stream", "xz", "txz")
SEVENZ = _t("application/x-7z-compressed", "7-Zip archive", "7z")
RAR = _t("application/vnd.rar", "RAR archive", "rar")
TAR = _t("application/x-tar", "tar archive", "tar")
SQLITE = _t("application/vnd.sqlite3", "SQLite database", "sqlite", "db", "sqlite3")
JAVA_CLASS = _t("application/java-vm", "Java class", "class", executable=True)
WASM = _t("application/wasm", "WebAssembly module", "wasm", executable=True)
LNK = _t("application/x-ms-shortcut", "Windows shortcut", "lnk", executable=True)
HTML = _t("text/html", "HTML document", "html", "htm", "hta", "xhtml")
XML = _t("application/xml", "XML document", "xml", "svg", "xsl", "rss", "plist", "config", "csproj")
SCRIPT = _t("text/x-script", "Script (shebang)", "sh", "py", "pl", "rb", "bash", "", executable=True)
PDF_PS = _t("application/postscript", "PostScript", "ps", "eps", "ai")
TEXT = _t(
    "text/plain",
    "Text",
    "txt",
    "csv",
    "log",
    "md",
    "json",
    "jsonl",
    "tsv",
    "ini",
    "cfg",
    "conf",
    "yaml",
    "yml",
    "xml",
    "html",
    "htm",
    "js",
    "py",
    "ps1",
    "bat",
    "cmd",
    "vbs",
    "sh",
    "sql",
    "eml",
    "rtf",
    "css",
    "toml",
    "ndjson",
    "",
)
UTF16_TEXT = _t("text/plain; charset=utf-16", "UTF-16 text", *TEXT.extensions)
DATA = _t("application/octet-stream", "Binary data (unknown format)")
EMPTY = _t("application/x-empty", "Empty file")

_MAGIC: list[tuple[int, bytes, FileType]] = [
    (0, b"%PDF-", PDF),
    (0, b"\x7fELF", ELF),
    (0, b"\xfe\xed\xfa\xce", MACHO),
    (0, b"\xfe\xed\xfa\xcf", MACHO),
    (0, b"\xce\xfa\xed\xfe", MACHO),
    (0, b"\xcf\xfa\xed\xfe", MACHO),
    (0, b"\x89PNG\r\n\x1a\n", PNG),
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"GIF87a", GIF),
    (0, b"GIF89a", GIF),
    (0, b"II*\x00", TIFF),
    (0, b"MM\x00*", TIFF),
    (0, b"\x00\x00\x01\x00", ICO),
    (0, b"\x1f\x8b", GZIP),
    (0, b"BZh", BZIP2),
    (0, b"\xfd7zXZ\x00", XZ),
    (0, b"7z\xbc\xaf\x27\x1c", SEVENZ),
    (0, b"Rar!\x1a\x07", RAR),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
    (0, b"{\\rtf", RTF),
    (0, b"SQLite format 3\x00", SQLITE),
    (0, b"\x00asm", WASM),
    (0, b"L\x00\x00\x00\x01\x14\x02\x00", LNK),
    (0, b"%!PS", PDF_PS),
    (257, b"ustar", TAR),
]


def detect(data: bytes) -> FileType:
    """The type of `data` from its content. Containers (ZIP, MZ) are looked into to tell an Office
    document from a plain archive and an EXE from a DLL."""
    if not data:
        return EMPTY
    if data.startswith(b"MZ"):
        return _detect_pe(data)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _detect_zip(data)
    if data.startswith(b"\xca\xfe\xba\xbe"):
        # Java classes and Mach-O fat binaries share the magic; fat binaries have a small arch count.
        return MACHO if int.from_bytes(data[4:8], "big") < 40 else JAVA_CLASS
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"BM") and len(data) > 14 and int.from_bytes(data[2:6], "little") in (0, len(data)):
        return BMP
    for offset, magic, file_type in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return file_type
    return _detect_text(data[:8192])


def _detect_pe(data: bytes) -> FileType:
    pe_offset = int.from_bytes(data[0x3C:0x40], "little") if len(data) >= 0x40 else 0
    if pe_offset and data[pe_offset : pe_offset + 4] == b"PE\x00\x00":
        characteristics = int.from_bytes(data[pe_offset + 22 : pe_offset + 24], "little")
        return PE_DLL if characteristics & 0x2000 else PE_EXE
    return _t("application/x-dosexec", "DOS executable", "exe", "com", executable=True)


def _detect_zip(data: bytes) -> FileType:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError):
        return ZIP
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            return XLSX
        if any(n.startswith("ppt/") for n in names):
            return PPTX
    if "mimetype" in names and any(n == "content.xml" for n in names):
        return ODF
    if "AndroidManifest.xml" in names and "classes.dex" in names:
        return APK
    if "META-INF/MANIFEST.MF" in names:
        return JAR
    return ZIP


def _detect_text(head: bytes) -> FileType:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return UTF16_TEXT
    if head.count(b"\x00") > len(head) // 3 and head[1::2].count(0) > len(head) // 3:
        return UTF16_TEXT if _printable_ratio(head[0::2]) > 0.9 else DATA
    head_for_text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    try:
        text = head_for_text.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head_for_text) - 3:
            return DATA if _printable_ratio(head_for_text) < 0.95 else TEXT
        text = head_for_text[: exc.start].decode("utf-8")
    if "\x00" in text:
        return DATA
    lowered = text.lstrip().lower()
    if lowered.startswith("#!"):
        return SCRIPT
    if lowered.startswith(("<!doctype html", "<html")) or "<html" in lowered[:1024]:
        return HTML
    if lowered.startswith("<?xml") or lowered.startswith("<svg"):
        return XML
    return TEXT


def _printable_ratio(chunk: bytes) -> float:
    if not chunk:
        return 1.0
    printable = sum(1 for b in chunk if 32 <= b < 127 or b in (9, 10, 13))
    return printable / len(chunk)


def extension_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.strip(".") else ""


# Extensions a victim would expect to be harmless to open.
BENIGN_LOOKING = frozenset(
    {
        "txt",
        "pdf",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "bmp",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "csv",
        "mp3",
        "mp4",
        "avi",
        "mov",
        "wav",
        "rtf",
        "odt",
        "zip",
        "html",
        "htm",
        "log",
        "md",
        "json",
    }
)
KNOWN_EXTENSIONS = frozenset(
    ext for ft in [v for v in globals().values() if isinstance(v, FileType)] for ext in ft.extensions if ext
)


def extension_check(name: str, file_type: FileType) -> dict:
    """Whether the name's extension fits the detected type. Unknown extensions are not judged;
    an executable posing as a document is the dangerous case (`risky`)."""
    ext = extension_of(name)
    mismatch = bool(ext) and ext in KNOWN_EXTENSIONS and file_type not in (EMPTY, DATA)
    mismatch = mismatch and ext not in file_type.extensions
    # Source code that embeds HTML or XML (templates, exporters) is still source code: between
    # passive text kinds a "mismatch" is no evidence of anything.
    text_like = (TEXT, HTML, XML, UTF16_TEXT)
    if file_type in text_like and any(ext in t.extensions for t in (*text_like, SCRIPT)):
        mismatch = False
    double = _double_extension(name)
    return {
        "extension": ext,
        "expected_extensions": [e for e in file_type.extensions if e],
        "mismatch": mismatch,
        "risky": mismatch and file_type.executable and ext in BENIGN_LOOKING,
        "double_extension": double,
    }


def _double_extension(name: str) -> bool:
    """`invoice.pdf.exe` style names (the last extension executable, the one before it benign)."""
    parts = name.lower().rsplit("/", 1)[-1].split(".")
    executable_exts = {"exe", "scr", "com", "bat", "cmd", "js", "vbs", "ps1", "hta", "jar", "lnk", "pif"}
    return len(parts) >= 3 and parts[-1] in executable_exts and parts[-2] in BENIGN_LOOKING
