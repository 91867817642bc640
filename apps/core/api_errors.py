"""The error answers each operation declares in the OpenAPI document, so clients (and the
schemathesis run in tests/api/) know every status they can get. Every operation can answer 401
(no or bad credentials), 403 (scope, role or trust), 422 (invalid input, e.g. a control character
in a query parameter), 429 (rate limit, with Retry-After) and 503 (a backing service is down);
operations add what their inputs and domain make possible."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from pydantic import ConfigDict

ALWAYS = (401, 403, 422, 429, 503)
BODY = (400, 413, 415, 422)  # unparsable body, over a size limit, not JSON, invalid fields


class ErrorOut(Schema):
    """`detail` says what went wrong; some errors add fields (`field`, `limit`, `retry_after`,
    `errors` with one entry per invalid input)."""

    model_config = ConfigDict(extra="allow")

    detail: str


def errors(*codes: int, body: bool = False) -> dict[int, Any]:
    """`response={200: TaskOut, **errors(404, 422)}`; body=True adds 400/413/415/422."""
    declared = {*ALWAYS, *codes, *(BODY if body else ())}
    return {code: ErrorOut for code in sorted(declared)}
