"""Metadata of images (EXIF, GPS) and Office Open XML documents (core/app properties, macros,
external relationships)."""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from typing import Any
from xml.etree import ElementTree

from PIL import ExifTags, Image, UnidentifiedImageError

from apps.agents.forensics.timeline import iso

# Image.open only reads headers and EXIF; pixels are never decoded here. Pillow's own
# MAX_IMAGE_PIXELS guard still refuses decompression bombs (DecompressionBombError below).
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATE_TAGS = {"DateTime": "modified", "DateTimeOriginal": "taken", "DateTimeDigitized": "digitized"}


def image_metadata(data: bytes) -> dict[str, Any]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            info: dict[str, Any] = {
                "format": img.format,
                "width": img.width,
                "height": img.height,
                "mode": img.mode,
            }
            exif = img.getexif()
            tags = {
                ExifTags.TAGS.get(k, hex(k)): _plain(v)
                for k, v in exif.items()
                if k not in (_EXIF_IFD, _GPS_IFD)
            }
            tags.update({ExifTags.TAGS.get(k, hex(k)): _plain(v) for k, v in exif.get_ifd(_EXIF_IFD).items()})
            gps_raw = {ExifTags.GPSTAGS.get(k, hex(k)): v for k, v in exif.get_ifd(_GPS_IFD).items()}
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        return {"error": f"Unreadable image: {exc}"}
    tags.pop("MakerNote", None)  # vendor blob, large and opaque
    info["exif"] = tags
    info["gps"] = _gps(gps_raw) if gps_raw else None
    info["timestamps"] = [
        {"value": iso(tags[tag]), "event": f"image {what} (EXIF {tag})"}
        for tag, what in _DATE_TAGS.items()
        if tag in tags and iso(tags[tag])
    ]
    camera = " ".join(str(tags[t]) for t in ("Make", "Model") if tags.get(t))
    info["camera"] = camera or None
    info["software"] = tags.get("Software")
    return info


def _gps(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"raw": {k: _plain(v) for k, v in raw.items()}}
    lat = _degrees(raw.get("GPSLatitude"), raw.get("GPSLatitudeRef"))
    lon = _degrees(raw.get("GPSLongitude"), raw.get("GPSLongitudeRef"))
    if lat is not None and lon is not None:
        out.update(latitude=round(lat, 6), longitude=round(lon, 6))
        out["map_url"] = (
            f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
        )
    if "GPSAltitude" in raw:
        with contextlib.suppress(TypeError, ValueError, ZeroDivisionError):
            out["altitude_m"] = round(float(raw["GPSAltitude"]), 1)
    return out


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    return -degrees if str(ref).upper() in ("S", "W") else degrees


def _plain(value: Any) -> Any:
    """EXIF values as JSON: rationals to floats, bytes to short text."""
    if isinstance(value, bytes):
        text = value.rstrip(b"\x00")
        return text.decode("latin-1")[:200] if all(32 <= b < 127 for b in text) else f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return value.strip("\x00").strip()[:500]
    if isinstance(value, int | bool) or value is None:
        return value
    try:
        return round(float(value), 6)
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)[:200]


_NS = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "ep": "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
}
_CORE_FIELDS = {
    "title": "dc:title",
    "subject": "dc:subject",
    "creator": "dc:creator",
    "description": "dc:description",
    "keywords": "cp:keywords",
    "last_modified_by": "cp:lastModifiedBy",
    "revision": "cp:revision",
    "created": "dcterms:created",
    "modified": "dcterms:modified",
    "last_printed": "cp:lastPrinted",
    "category": "cp:category",
}
_APP_FIELDS = (
    "Application",
    "AppVersion",
    "Company",
    "Manager",
    "Template",
    "TotalTime",
    "Pages",
    "Words",
    "Characters",
    "Lines",
    "Paragraphs",
    "Slides",
    "DocSecurity",
)
_MACRO_PARTS = re.compile(r"^(word|xl|ppt)/vbaProject\.bin$|\.bin$", re.I)


def ooxml_metadata(data: bytes, *, max_part_bytes: int = 2 * 1024 * 1024) -> dict[str, Any]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return {"error": f"Unreadable Office document: {exc}"}

    def part(name: str) -> ElementTree.Element | None:
        if name not in names or archive.getinfo(name).file_size > max_part_bytes:
            return None
        try:
            return ElementTree.fromstring(archive.read(name))  # noqa: S314 - size-capped, no DTDs expanded
        except (ElementTree.ParseError, zipfile.BadZipFile, RuntimeError):
            return None

    core: dict[str, Any] = {}
    if (root := part("docProps/core.xml")) is not None:
        for key, path in _CORE_FIELDS.items():
            node = root.find(path, _NS)
            if node is not None and (node.text or "").strip():
                core[key] = (node.text or "").strip()[:500]
    app: dict[str, Any] = {}
    if (root := part("docProps/app.xml")) is not None:
        for key in _APP_FIELDS:
            node = root.find(f"ep:{key}", _NS)
            if node is not None and (node.text or "").strip():
                app[key] = (node.text or "").strip()[:500]
    vba_parts = [n for n in names if n.lower().endswith("vbaproject.bin")]
    content_types = (
        archive.read("[Content_Types].xml").decode("utf-8", "replace")
        if (
            "[Content_Types].xml" in names
            and archive.getinfo("[Content_Types].xml").file_size < max_part_bytes
        )
        else ""
    )
    external = _external_relationships(archive, names, max_part_bytes)
    return {
        "core_properties": core,
        "app_properties": app,
        "macros": {
            "present": bool(vba_parts) or "macroEnabled" in content_types,
            "vba_parts": vba_parts,
            "macro_enabled_content_type": "macroEnabled" in content_types,
        },
        "activex": any("activeX" in n for n in names),
        "embedded_objects": [n for n in names if "/embeddings/" in n][:50],
        "external_relationships": external,
        "part_count": len(names),
        "timestamps": [
            {"value": iso(core[k]), "event": f"document {k.replace('_', ' ')} (OOXML core properties)"}
            for k in ("created", "modified", "last_printed")
            if k in core and iso(core[k])
        ],
    }


def _external_relationships(archive: zipfile.ZipFile, names: list[str], cap: int) -> list[dict[str, str]]:
    """Relationships that point outside the package (remote templates load code from there)."""
    out = []
    for name in names:
        if not name.endswith(".rels") or archive.getinfo(name).file_size > cap:
            continue
        try:
            root = ElementTree.fromstring(archive.read(name))  # noqa: S314
        except (ElementTree.ParseError, zipfile.BadZipFile, RuntimeError):
            continue
        for rel in root:
            if rel.get("TargetMode") == "External":
                out.append(
                    {
                        "part": name,
                        "type": (rel.get("Type") or "").rsplit("/", 1)[-1],
                        "target": (rel.get("Target") or "")[:500],
                    }
                )
    return out[:100]
