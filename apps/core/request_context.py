"""Context that travels with a request into logs and, through task headers, into workers."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("amas_request_id", default="")
