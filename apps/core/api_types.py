"""Input types for API schemas and query parameters where Python's own types accept more than
the database or the domain can take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator

# PostgreSQL's timestamptz takes UTC offsets up to ±15:59; Python's up to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


def _offset_in_range(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("UTC offset must be within ±15:59")
    try:
        value.astimezone(UTC)  # 0001-01-01T00:00+01:00 has no UTC equivalent
    except OverflowError:
        raise ValueError("date out of range") from None
    return value


ApiDatetime = Annotated[datetime, AfterValidator(_offset_in_range)]
