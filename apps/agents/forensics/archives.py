"""Archives listed member by member without touching the disk. Expansion is bounded three ways so
that a zip bomb is stopped, not run: a member whose declared (or actual) expansion ratio exceeds
the limit is not expanded; every expanded byte is charged to one budget per uploaded file; and
nesting stops at a maximum depth. A wall-clock deadline bounds the whole expansion, and once
any limit stops the listing, the remaining entries are still triaged by name and first bytes
(executables, scripts, double extensions, encrypted members) so that padding an archive cannot
hide what matters behind the cap."""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.agents.forensics import filetype as ft

READ_CHUNK = 256 * 1024
# In an archive that is a bomb as a whole, members this small are still expanded.
SMALL_MEMBER_BYTES = 64 * 1024
# A whole archive whose declared contents exceed this and its ratio is a bomb (the nested kind
# made of many members that are each small enough to pass one by one).
BOMB_DECLARED_BYTES = 10 * 1024 * 1024
TRIAGE_MAX_ENTRIES = 20_000
TRIAGE_MAX_HEADER_READS = 500
PROGRESS_EVERY = 100  # archive members between progress reports
_SCRIPT_EXTENSIONS = "exe dll scr com cpl sys msi bat cmd ps1 vbs vbe js jse wsf hta jar lnk pif sh elf apk"
SCRIPT_EXTENSIONS = frozenset(_SCRIPT_EXTENSIONS.split() + ["docm", "xlsm", "pptm", "dotm", "iso"])


@dataclass
class ExpansionBudget:
    max_depth: int
    max_ratio: int
    max_members: int
    max_member_bytes: int
    remaining_bytes: int
    max_seconds: float = 0.0  # 0: no deadline
    members_seen: int = 0
    bytes_expanded: int = 0
    limits_hit: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # Called with (members seen, bytes expanded) every PROGRESS_EVERY members: a long expansion
    # reports progress (and may raise to cancel) instead of going quiet until its limit.
    on_progress: Callable[[int, int], None] | None = None

    def out_of_time(self) -> bool:
        return bool(self.max_seconds) and time.monotonic() - self.started > self.max_seconds

    def note(self, message: str) -> None:
        if message not in self.limits_hit and len(self.limits_hit) < 50:
            self.limits_hit.append(message)


class ExpansionStopped(Exception):
    """A member grew past its ratio or the budget while being expanded."""


Analyse = Callable[[bytes, str, int], dict[str, Any]]  # (member bytes, member path, depth) -> report

ARCHIVE_TYPES = {ft.ZIP, ft.JAR, ft.APK, ft.TAR, ft.GZIP, ft.BZIP2, ft.XZ}


def is_archive(file_type: ft.FileType) -> bool:
    return file_type in ARCHIVE_TYPES


def expand_archive(
    data: bytes, file_type: ft.FileType, *, path: str, depth: int, budget: ExpansionBudget, analyse: Analyse
) -> dict[str, Any]:
    """List an archive and analyse each member with `analyse` (which recurses for nested
    archives). Depth counts archive levels: members of the top-level file are at depth 1."""
    report: dict[str, Any] = {
        "format": file_type.label,
        "members": [],
        "encrypted_members": 0,
        "bomb": False,
        "path_traversal": [],
        "truncated": False,
    }
    if depth > budget.max_depth:
        budget.note(f"{path}: nesting deeper than {budget.max_depth} levels was not expanded")
        report["truncated"] = True
        report["depth_limit"] = True
        return report
    try:
        if file_type in (ft.ZIP, ft.JAR, ft.APK):
            _zip(data, report, path=path, depth=depth, budget=budget, analyse=analyse)
        elif file_type == ft.TAR:
            _tar(data, report, path=path, depth=depth, budget=budget, analyse=analyse)
        else:
            _stream(data, file_type, report, path=path, depth=depth, budget=budget, analyse=analyse)
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        report["error"] = f"Corrupt or unsupported archive: {exc}"
    return report


def _admit(report: dict, budget: ExpansionBudget, path: str) -> bool:
    if budget.out_of_time():
        budget.note(f"archive expansion stopped after {budget.max_seconds:.0f} s (time limit)")
        report["truncated"] = True
        return False
    if budget.members_seen >= budget.max_members:
        budget.note(f"more than {budget.max_members} archive members: the rest were not listed")
        report["truncated"] = True
        return False
    budget.members_seen += 1
    if budget.on_progress is not None and budget.members_seen % PROGRESS_EVERY == 0:
        budget.on_progress(budget.members_seen, budget.bytes_expanded)
    return True


def _unsafe_name(name: str) -> bool:
    normal = name.replace("\\", "/")
    return normal.startswith("/") or ".." in normal.split("/") or (len(normal) > 1 and normal[1] == ":")


def _zip(
    data: bytes, report: dict, *, path: str, depth: int, budget: ExpansionBudget, analyse: Analyse
) -> None:
    archive = zipfile.ZipFile(io.BytesIO(data))
    infos = archive.infolist()
    declared = sum(i.file_size for i in infos)
    if declared > BOMB_DECLARED_BYTES and declared / max(len(data), 1) > budget.max_ratio:
        report["bomb"] = True
        budget.note(f"{path}: declares {declared} bytes in {len(data)} (ratio over {budget.max_ratio}:1)")
    for index, info in enumerate(infos):
        if not _admit(report, budget, path):
            report["unexpanded"] = _triage(
                [(i.filename, bool(i.flag_bits & 0x1), _zip_head(archive, i)) for i in infos[index:]]
            )
            return
        member_path = f"{path}/{info.filename}"
        entry: dict[str, Any] = {
            "name": info.filename,
            "path": member_path,
            "size": info.file_size,
            "compressed_size": info.compress_size,
            "modified": _zip_time(info.date_time),
            "is_dir": info.is_dir(),
            "encrypted": bool(info.flag_bits & 0x1),
            "compression": info.compress_type,
        }
        if _unsafe_name(info.filename):
            report["path_traversal"].append(info.filename)
        report["members"].append(entry)
        if info.is_dir():
            continue
        if entry["encrypted"]:
            report["encrypted_members"] += 1
            entry["skipped"] = "password-protected"
            continue
        declared_ratio = info.file_size / max(info.compress_size, 1)
        # Big members over the ratio are bombs; smaller ones only inside an archive that is a
        # bomb as a whole (repetitive logs legitimately compress past 100:1).
        big = info.file_size > 1024 * 1024 or (report["bomb"] and info.file_size > SMALL_MEMBER_BYTES)
        if big and declared_ratio > budget.max_ratio:
            report["bomb"] = True
            entry["skipped"] = f"expansion ratio {declared_ratio:.0f}:1 over the limit {budget.max_ratio}:1"
            budget.note(f"{member_path}: not expanded ({entry['skipped']})")
            continue
        if info.file_size > min(budget.remaining_bytes, budget.max_member_bytes):
            entry["skipped"] = "over the expansion budget"
            budget.note(f"{member_path}: not expanded (over the expansion budget)")
            continue
        try:
            with archive.open(info) as fh:
                content = _bounded_read(fh, compressed=info.compress_size, budget=budget, path=member_path)
        except ExpansionStopped as exc:
            report["bomb"] = True
            entry["skipped"] = str(exc)
            continue
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, zlib.error, EOFError) as exc:
            entry["error"] = f"Could not expand: {exc}"
            continue
        entry["analysis"] = analyse(content, member_path, depth)


def _tar(
    data: bytes, report: dict, *, path: str, depth: int, budget: ExpansionBudget, analyse: Analyse
) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            if not _admit(report, budget, path):
                rest = [member, *_tar_rest(archive)]
                report["unexpanded"] = _triage([(m.name, False, _tar_head(archive, m)) for m in rest])
                return
            member_path = f"{path}/{member.name}"
            entry: dict[str, Any] = {
                "name": member.name,
                "path": member_path,
                "size": member.size,
                "modified": _unix_time(member.mtime),
                "is_dir": member.isdir(),
                "mode": oct(member.mode),
                "link": member.linkname or None,
            }
            if _unsafe_name(member.name) or (member.issym() and _unsafe_name(member.linkname)):
                report["path_traversal"].append(member.name)
            report["members"].append(entry)
            if not member.isfile():
                continue
            if member.size > budget.max_member_bytes or member.size > budget.remaining_bytes:
                entry["skipped"] = "over the expansion budget"
                budget.note(f"{member_path}: not expanded (over the expansion budget)")
                continue
            fh = archive.extractfile(member)
            if fh is None:
                continue
            content = fh.read(member.size)
            budget.remaining_bytes -= len(content)
            budget.bytes_expanded += len(content)
            entry["analysis"] = analyse(content, member_path, depth)


def _stream(
    data: bytes,
    file_type: ft.FileType,
    report: dict,
    *,
    path: str,
    depth: int,
    budget: ExpansionBudget,
    analyse: Analyse,
) -> None:
    """gzip / bzip2 / xz: one compressed stream, shown as one member named after the file."""
    if not _admit(report, budget, path):
        return
    name = path.rsplit("/", 1)[-1]
    for suffix in (".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)] + (".tar" if suffix.startswith(".t") else "")
            break
    else:
        name = name + ".out"
    member_path = f"{path}/{name}"
    entry: dict[str, Any] = {"name": name, "path": member_path, "compressed_size": len(data)}
    report["members"].append(entry)
    if file_type == ft.GZIP:
        decompressor: Any = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
    elif file_type == ft.BZIP2:
        decompressor = bz2.BZ2Decompressor()
    else:
        decompressor = lzma.LZMADecompressor()
    try:
        content = _bounded_decompress(decompressor, data, budget=budget, path=member_path)
    except ExpansionStopped as exc:
        report["bomb"] = True
        entry["skipped"] = str(exc)
        return
    entry["size"] = len(content)
    entry["analysis"] = analyse(content, member_path, depth)


def _zip_head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.flag_bits & 0x1 or info.is_dir():
            return b""
        with archive.open(info) as fh:
            return fh.read(8)

    return read


def _tar_rest(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    rest = []
    for member in archive:
        rest.append(member)
        if len(rest) >= TRIAGE_MAX_ENTRIES:
            break
    return rest


def _tar_head(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        fh = archive.extractfile(member) if member.isfile() else None
        return fh.read(8) if fh is not None else b""

    return read


def _triage(entries: list[tuple[str, bool, Callable[[], bytes]]]) -> dict[str, Any]:
    """Entries not expanded (a limit stopped the listing): what matters among them, by name and
    first bytes. `complete` says whether every remaining entry was looked at."""
    flagged: list[dict[str, Any]] = []
    reads = unread = 0
    looked = entries[:TRIAGE_MAX_ENTRIES]
    for name, encrypted, head in looked:
        reasons = []
        if ft.extension_check(name, ft.DATA)["double_extension"]:
            reasons.append("double extension")
        if ft.extension_of(name) in SCRIPT_EXTENSIONS:
            reasons.append(f"executable or script extension .{ft.extension_of(name)}")
        if encrypted:
            reasons.append("encrypted")
        elif name.endswith("/"):
            pass
        elif reads >= TRIAGE_MAX_HEADER_READS:
            unread += 1
        else:
            reads += 1
            try:
                first = head()
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, zlib.error, EOFError):
                first = b""
            if first.startswith((b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe")):
                ext = ft.extension_of(name)
                disguised = ext in ft.BENIGN_LOOKING
                reasons.append(
                    f"executable header behind a .{ext} name" if disguised else "executable header"
                )
        if reasons:
            flagged.append({"name": name, "reasons": reasons})
    return {
        "count": len(entries),
        "triaged_by_name": len(looked),
        "headers_read": reads,
        "flagged": flagged[:200],
        "complete": len(looked) == len(entries) and not unread,
    }


def _limit_for(compressed: int, budget: ExpansionBudget) -> int:
    return min(
        budget.max_member_bytes, budget.remaining_bytes, max(compressed, 1) * budget.max_ratio + 1024 * 1024
    )


def _bounded_read(fh: Any, *, compressed: int, budget: ExpansionBudget, path: str) -> bytes:
    """Read a member while its actual size stays within its ratio and the budget (headers lie)."""
    limit = _limit_for(compressed, budget)
    parts, total = [], 0
    while chunk := fh.read(min(READ_CHUNK, limit - total + 1)):
        total += len(chunk)
        budget.bytes_expanded += len(chunk)
        if total > limit:
            budget.remaining_bytes -= total - len(chunk)
            budget.note(f"{path}: expansion stopped after {total} bytes (limit {limit})")
            raise ExpansionStopped(f"expansion stopped after {total} bytes (limit {limit})")
        parts.append(chunk)
    budget.remaining_bytes -= total
    return b"".join(parts)


def _bounded_decompress(decompressor: Any, data: bytes, *, budget: ExpansionBudget, path: str) -> bytes:
    limit = _limit_for(len(data), budget)
    zlib_style = not hasattr(decompressor, "needs_input")
    parts, total = [], 0
    pending = data
    while not decompressor.eof:
        if zlib_style:
            chunk = decompressor.decompress(pending, READ_CHUNK)
            pending = decompressor.unconsumed_tail
            stalled = not chunk and not pending
        else:
            chunk = decompressor.decompress(pending, max_length=READ_CHUNK)
            pending = b""
            stalled = not chunk and decompressor.needs_input
        total += len(chunk)
        budget.bytes_expanded += len(chunk)
        if total > limit:
            budget.remaining_bytes -= total - len(chunk)
            budget.note(f"{path}: expansion stopped after {total} bytes (limit {limit})")
            raise ExpansionStopped(f"expansion stopped after {total} bytes (limit {limit})")
        parts.append(chunk)
        if stalled:  # a truncated stream: keep what came out
            break
    budget.remaining_bytes -= total
    return b"".join(parts)


def _zip_time(date_time: tuple) -> str | None:
    from apps.agents.forensics.timeline import iso

    return iso(date_time)


def _unix_time(value: float) -> str | None:
    from apps.agents.forensics.timeline import iso

    return iso(value) if value else None
