"""Portable Executable headers: machine, subsystem, compile time, sections with entropy, imports
and the APIs malware leans on."""

from __future__ import annotations

from typing import Any

import pefile

from apps.agents.forensics.content import shannon_entropy
from apps.agents.forensics.pe_extras import long_section_names, signature, version_info
from apps.agents.forensics.timeline import iso

# Grouped by what they let a program do; any of them alone is common, several together are not.
SUSPICIOUS_APIS = {
    "process_injection": {
        "VirtualAllocEx",
        "WriteProcessMemory",
        "CreateRemoteThread",
        "NtCreateThreadEx",
        "QueueUserAPC",
        "SetThreadContext",
        "NtUnmapViewOfSection",
        "RtlCreateUserThread",
    },
    "anti_debugging": {
        "IsDebuggerPresent",
        "CheckRemoteDebuggerPresent",
        "NtQueryInformationProcess",
        "OutputDebugStringA",
    },
    "keylogging": {"SetWindowsHookExA", "SetWindowsHookExW", "GetAsyncKeyState", "GetKeyState"},
    "dynamic_loading": {"LoadLibraryA", "LoadLibraryW", "GetProcAddress", "LdrLoadDll"},
    "download_execute": {
        "URLDownloadToFileA",
        "URLDownloadToFileW",
        "WinExec",
        "ShellExecuteA",
        "ShellExecuteW",
        "InternetOpenUrlA",
        "InternetOpenUrlW",
    },
    "privilege": {"AdjustTokenPrivileges", "OpenProcessToken", "LookupPrivilegeValueA"},
    "crypto": {"CryptEncrypt", "CryptAcquireContextA", "CryptGenKey", "BCryptEncrypt"},
}
_PACKER_SECTIONS = {
    "UPX0",
    "UPX1",
    "UPX2",
    ".aspack",
    ".adata",
    ".petite",
    ".nsp0",
    ".nsp1",
    "MPRESS1",
    "MPRESS2",
    ".themida",
    ".vmp0",
    ".vmp1",
    ".enigma1",
}


def pe_metadata(data: bytes) -> dict[str, Any]:
    try:
        pe = pefile.PE(data=data, fast_load=True)
        pe.parse_data_directories(
            directories=[
                pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
                pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"],
            ]
        )
    except pefile.PEFormatError as exc:
        return {"error": f"Malformed PE: {exc}"}
    try:
        described = _describe(pe)
        described["version_info"] = version_info(pe)
        described["signature"] = signature(pe, data)
        described["long_section_names"] = long_section_names(pe, data)
        return described
    finally:
        pe.close()


def _describe(pe: pefile.PE) -> dict[str, Any]:
    header = pe.FILE_HEADER
    optional = pe.OPTIONAL_HEADER
    compiled = iso(header.TimeDateStamp) if header.TimeDateStamp else None
    sections = []
    for section in pe.sections:
        raw = section.get_data()
        name = section.Name.rstrip(b"\x00").decode("latin-1")
        flags = section.Characteristics
        sections.append(
            {
                "name": name,
                "virtual_address": section.VirtualAddress,
                "virtual_size": section.Misc_VirtualSize,
                "raw_size": section.SizeOfRawData,
                "raw_offset": section.PointerToRawData,
                "entropy": round(shannon_entropy(raw), 3),
                "executable": bool(flags & 0x20000000),
                "writable": bool(flags & 0x80000000),
            }
        )
    imports: dict[str, list[str]] = {}
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        dll = entry.dll.decode("latin-1", "replace")
        imports[dll] = [
            imp.name.decode("latin-1", "replace") if imp.name else f"ordinal_{imp.ordinal}"
            for imp in entry.imports
        ][:500]
    exports = [
        e.name.decode("latin-1", "replace")
        for e in getattr(getattr(pe, "DIRECTORY_ENTRY_EXPORT", None), "symbols", [])
        if e.name
    ][:500]
    imported = {fn for fns in imports.values() for fn in fns}
    suspicious = {
        group: sorted(imported & apis) for group, apis in SUSPICIOUS_APIS.items() if imported & apis
    }
    is_dll = bool(header.Characteristics & 0x2000)
    return {
        "machine": pefile.MACHINE_TYPE.get(header.Machine, hex(header.Machine)),
        "kind": "dll" if is_dll else "exe",
        "pe_format": "PE32+" if optional.Magic == 0x20B else "PE32",
        "subsystem": pefile.SUBSYSTEM_TYPE.get(optional.Subsystem, str(optional.Subsystem)),
        "compile_time": compiled,
        "entry_point": hex(optional.AddressOfEntryPoint),
        "image_base": hex(optional.ImageBase),
        "sections": sections,
        "imports": imports,
        "import_count": len(imported),
        "exports": exports,
        "imphash": pe.get_imphash() or None,
        "suspicious_apis": suspicious,
        "packer_sections": sorted({s["name"] for s in sections} & _PACKER_SECTIONS),
        "writable_executable_sections": [s["name"] for s in sections if s["executable"] and s["writable"]],
        "entry_outside_sections": _entry_outside(pe),
        "overlay_bytes": _overlay(pe),
        "timestamps": [{"value": compiled, "event": "PE compile time (COFF header)"}] if compiled else [],
    }


def _entry_outside(pe: pefile.PE) -> bool:
    entry = pe.OPTIONAL_HEADER.AddressOfEntryPoint
    if not entry:
        return False
    return not any(
        s.VirtualAddress <= entry < s.VirtualAddress + max(s.Misc_VirtualSize, s.SizeOfRawData)
        for s in pe.sections
    )


def _overlay(pe: pefile.PE) -> int:
    offset = pe.get_overlay_data_start_offset()
    return len(pe.__data__) - offset if offset else 0
