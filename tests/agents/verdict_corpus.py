"""A small labelled corpus for verdict calibration: known-benign files that exist on any machine
that runs AMAS (pip's and setuptools' Windows launchers in the virtualenv, wheels built from
installed packages, an sdist, Debian's documentation PDFs and images), plus known-bad files the
tests construct (double extensions, macro documents, a PE with injection imports and packed
sections, PDFs with Launch or JavaScript). Used by tests/agents/test_verdict_corpus.py and
bench/forensics_verdicts.py."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pip

from tests.agents import fixtures_files as ff

BENIGN, BAD = "benign", "bad"
# Found, not imported: importing setuptools after distutils trips its distutils shim.
SETUPTOOLS = Path(importlib.util.find_spec("setuptools").origin).parent  # type: ignore[arg-type,union-attr]


@dataclass
class Sample:
    name: str
    data: bytes
    label: str
    origin: str


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _wheel_of(package_dir: Path, dist: str, limit: int = 200) -> bytes:
    """A wheel-shaped zip of an installed package's files (what pip would cache for it)."""
    files = sorted(p for p in package_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    members = {f"{package_dir.name}/{p.relative_to(package_dir)}": p.read_bytes() for p in files[:limit]}
    members[f"{dist}.dist-info/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: corpus\nRoot-Is-Purelib: true\n"
    members[f"{dist}.dist-info/RECORD"] = "\n".join(members).encode()
    return _zip(members)


def _sdist_of(package_dir: Path, dist: str, limit: int = 100) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        files = sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)[:limit]
        for path in files:
            archive.add(path, arcname=f"{dist}/{path.relative_to(package_dir.parent)}")
    return buffer.getvalue()


def benign() -> Iterator[Sample]:
    launchers = [
        *sorted(SETUPTOOLS.glob("*.exe")),
        *sorted((Path(pip.__file__).parent / "_vendor" / "distlib").glob("*.exe")),
    ]
    for path in launchers:
        yield Sample(path.name, path.read_bytes(), BENIGN, "launcher shipped in the virtualenv")
    for package in (Path(pip.__file__).parent / "_vendor" / "rich", SETUPTOOLS):
        yield Sample(f"{package.name}-0-py3-none-any.whl", _wheel_of(package, package.name), BENIGN, "wheel")
    yield Sample("setuptools-0.tar.gz", _sdist_of(SETUPTOOLS, "setuptools-0"), BENIGN, "sdist")
    docs = (
        sorted(Path("/usr/share/doc").glob("*/*.pdf"))[:4]
        + sorted(Path("/usr/share/doc").glob("*/*.jpg"))[:3]
    )
    docs += sorted(Path("/usr/share/doc").glob("*/copyright"))[:3]
    for path in docs:
        yield Sample(f"{path.parent.name}-{path.name}", path.read_bytes(), BENIGN, "Debian documentation")
    yield Sample("holiday.jpg", ff.jpeg_with_gps(), BENIGN, "constructed photo with GPS")
    yield Sample("report.docx", ff.docx(), BENIGN, "constructed document")
    yield Sample("notes.pdf", ff.pdf_plain(["Minutes of the meeting"]), BENIGN, "constructed PDF")


def _packed(pe: bytes) -> bytes:
    """Rename the PE's sections to UPX0/UPX1 and fill .text with near-random bytes."""
    data = bytearray(pe)
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    count = struct.unpack_from("<H", data, offset + 6)[0]
    optional_size = struct.unpack_from("<H", data, offset + 20)[0]
    table = offset + 24 + optional_size
    for i, name in zip(range(count), (b"UPX0\0\0\0\0", b"UPX1\0\0\0\0"), strict=False):
        data[table + 40 * i : table + 40 * i + 8] = name
    raw_size, raw_offset = struct.unpack_from("<II", data, table + 16)  # .text: SizeOfRawData, Pointer
    noise = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(raw_size // 32))
    data[raw_offset + 1 : raw_offset + raw_size] = noise[: raw_size - 1]
    return bytes(data)


def bad() -> Iterator[Sample]:
    pe = ff.small_pe()
    yield Sample("invoice.pdf.exe", pe, BAD, "double extension")
    yield Sample("invoice.pdf", pe, BAD, "executable posing as a PDF")
    yield Sample("dropper.exe", _packed(pe), BAD, "injection imports and packed sections")
    yield Sample("payment.zip", _zip({"payment.pdf.exe": pe, "readme.txt": b"open the pdf"}), BAD, "zipped")
    yield Sample("orders.docm", ff.docx(macro=True), BAD, "macro document")
    yield Sample("remote.docx", ff.docx(remote_template="http://198.51.100.9/t.dotm"), BAD, "remote template")
    yield Sample("invoice-js.pdf", ff.pdf_with_javascript(launch=False), BAD, "PDF with JavaScript")
    yield Sample("invoice-launch.pdf", ff.pdf_with_javascript(launch=True), BAD, "PDF with a Launch action")


def corpus() -> list[Sample]:
    return [*benign(), *bad()]


def judge(sample: Sample, *, legacy: bool = False) -> tuple[str, list[str]]:
    """The forensics verdict for one sample, as the agent decides it (no database: no hash sets).
    `legacy`: the rules before coverage and calibration (an executable inside an archive was
    medium; gaps did not stop 'clean'), as the benchmark's same-run baseline."""
    from apps.agents.coverage import Coverage
    from apps.agents.forensics.archives import ExpansionBudget
    from apps.agents.forensics.gaps import record_gaps
    from apps.agents.forensics.scanner import Scanner, ScanOptions, walk
    from apps.agents.forensics.verdict import decide

    budget = ExpansionBudget(
        max_depth=3,
        max_ratio=100,
        max_members=500,
        max_member_bytes=50 * 2**20,
        remaining_bytes=128 * 2**20,
        max_seconds=30,
    )
    node = Scanner(ruleset=None, options=ScanOptions(), budget=budget).scan(
        sample.data, name=sample.name, path=sample.name
    )
    nodes = walk(node)
    coverage = Coverage()
    record_gaps(coverage, nodes)
    findings = [f for n in nodes for f in n["findings"]]
    if legacy:
        findings = [
            {**f, "severity": "medium"} if f["rule"] == "executable_content" and f["severity"] == "low" else f
            for f in findings
        ]
    gaps = [] if legacy else [f"{m['what']}: {m['reason']}" for m in coverage.not_checked]
    return decide(
        findings=findings,
        known_good=False,
        passive=all(n["passive"] for n in nodes),
        analysed=True,
        gaps=gaps,
    )
