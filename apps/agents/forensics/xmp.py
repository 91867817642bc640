"""XMP metadata (the XML packet Adobe tools, cameras and office suites embed in images, PDFs and
more): creator tool, dates, document ids and authors, read from the packet wherever it sits."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from apps.agents.forensics.timeline import iso

_START, _END = b"<x:xmpmeta", b"</x:xmpmeta>"
_FIELDS = {
    "CreatorTool": "creator_tool",
    "CreateDate": "created",
    "ModifyDate": "modified",
    "MetadataDate": "metadata_date",
    "DocumentID": "document_id",
    "InstanceID": "instance_id",
    "OriginalDocumentID": "original_document_id",
    "Producer": "producer",
    "creator": "authors",
    "title": "title",
}


def xmp_metadata(data: bytes, *, max_packet: int = 1024 * 1024) -> dict[str, Any] | None:
    start = data.find(_START)
    if start < 0:
        return None
    end = data.find(_END, start, start + max_packet)
    if end < 0:
        return {"error": "XMP packet not closed (truncated or over 1 MiB)"}
    packet = data[start : end + len(_END)]
    try:
        root = ElementTree.fromstring(packet)  # noqa: S314 - no DTDs/entities in XMP; stdlib refuses external ones
    except ElementTree.ParseError as exc:
        return {"error": f"Unparseable XMP: {exc}"}
    out: dict[str, Any] = {}
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        values = [element.text.strip()] if element.text and element.text.strip() else []
        values += [v for k, v in element.attrib.items() if k.rsplit("}", 1)[-1] == local]
        items = [li.text.strip() for li in element.iter() if li.tag.endswith("}li") and li.text]
        if local in _FIELDS and (values or items):
            out[_FIELDS[local]] = items or values[0]
        for key, value in element.attrib.items():
            name = key.rsplit("}", 1)[-1]
            if name in _FIELDS and _FIELDS[name] not in out:
                out[_FIELDS[name]] = value
    out["timestamps"] = [
        {"value": iso(out[key]), "event": f"XMP {key.replace('_', ' ')}"}
        for key in ("created", "modified", "metadata_date")
        if isinstance(out.get(key), str) and iso(out[key])
    ]
    return out
