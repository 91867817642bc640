"""PE details beyond the headers: version-info strings, the Authenticode signature (present?
who signed?) and long section names kept in the COFF string table (what compilers such as
MinGW write for names over 8 characters, e.g. '/4' -> '.debug_info')."""

from __future__ import annotations

from typing import Any

import pefile

_SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
_RESOURCE = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]


def version_info(pe: pefile.PE) -> dict[str, str]:
    """StringFileInfo pairs (CompanyName, FileVersion, OriginalFilename ...), or {}."""
    try:
        pe.parse_data_directories(directories=[_RESOURCE])
    except (pefile.PEFormatError, AttributeError, IndexError, ValueError):
        return {}
    out: dict[str, str] = {}
    for group in getattr(pe, "FileInfo", None) or []:
        for info in group if isinstance(group, list) else [group]:
            for table in getattr(info, "StringTable", []):
                for key, value in table.entries.items():
                    out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")[:500]
    return dict(list(out.items())[:50])


def signature(pe: pefile.PE, data: bytes) -> dict[str, Any]:
    """Whether an Authenticode signature is attached, and its certificates' subjects. Presence
    and subject only: the signature is not verified against a trust store."""
    entry = pe.OPTIONAL_HEADER.DATA_DIRECTORY[_SECURITY]
    offset, size = entry.VirtualAddress, entry.Size  # a file offset for this directory
    if not offset or not size:
        return {"present": False}
    if offset + size > len(data) or size < 8:
        return {"present": True, "error": "signature directory points past the end of the file"}
    blob = data[offset + 8 : offset + size]  # WIN_CERTIFICATE header: length, revision, type
    try:
        from cryptography.hazmat.primitives.serialization import pkcs7

        certificates = pkcs7.load_der_pkcs7_certificates(blob)
    except Exception as exc:  # malformed or truncated PKCS#7: say so, keep the rest of the report
        return {"present": True, "error": f"unparseable PKCS#7: {type(exc).__name__}"}
    return {
        "present": True,
        "verified": False,
        "certificates": [
            {"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string()}
            for c in certificates[:10]
        ],
    }


def long_section_names(pe: pefile.PE, data: bytes) -> dict[str, str]:
    """'/<n>' section names resolved through the COFF string table, {short: long}."""
    header = pe.FILE_HEADER
    table = header.PointerToSymbolTable + header.NumberOfSymbols * 18
    if not header.PointerToSymbolTable or table + 4 > len(data):
        return {}
    out = {}
    for section in pe.sections:
        name = section.Name.rstrip(b"\x00").decode("latin-1")
        if name.startswith("/") and name[1:].isdigit():
            start = table + int(name[1:])
            end = data.find(b"\x00", start, start + 256)
            if start < len(data) and end > start:
                out[name] = data[start:end].decode("latin-1")
    return out
