"""Timestamps found in files, normalised to ISO 8601 UTC, so that one timeline can be drawn."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EXIF = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_PDF = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-])?(\d{2})?'?(\d{2})?'?")


def iso(value: object) -> str | None:
    """ISO 8601 UTC for a datetime, a unix time, an EXIF / PDF / W3CDTF string; None if unusable
    (and for the zero dates some tools write)."""
    moment = _to_datetime(value)
    if moment is None or moment.year < 1970 or moment.year > 2100:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, tuple) and len(value) >= 6:  # zip member date_time
        try:
            year, month, day, hour, minute, second = (int(part) for part in value[:6])
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            return None
    if not isinstance(value, str):
        return None
    text = value.strip().strip("\x00")
    if match := _EXIF.match(text):
        try:
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            return None
    if text.startswith("D:") or (text[:14].isdigit() and len(text) >= 8):
        return _pdf_date(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _pdf_date(text: str) -> datetime | None:
    match = _PDF.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, sign, tz_h, tz_m = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if sign in ("+", "-") and tz_h:
        offset = timedelta(hours=int(tz_h), minutes=int(tz_m or 0))
        moment = moment - offset if sign == "+" else moment + offset
    return moment


def event(value: object, *, source: str, what: str, file: str) -> dict | None:
    stamp = iso(value)
    if stamp is None:
        return None
    return {"timestamp": stamp, "source": source, "event": what, "file": file}
