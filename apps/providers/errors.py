"""Errors of the provider layer.

`ProviderError` is the one taxonomy every adapter maps its vendor's failures to: the router decides
from `retryable` (and `retry_after`) whether to retry the same provider or move to the next one.
The `ApplicationError` subclasses are what callers of the router see when a call cannot be served.
"""

from __future__ import annotations

from http import HTTPStatus

from apps.core.exceptions import ApplicationError


class ErrorKind:
    AUTH = "auth"  # 401/403: the key is wrong or lacks access
    MODEL_NOT_FOUND = "model_not_found"  # 404: the configured model does not exist
    BAD_REQUEST = "bad_request"  # other 4xx: our request was refused as such
    TIMEOUT = "timeout"  # client timeout or 408
    RATE_LIMITED = "rate_limited"  # 429 (Retry-After honoured)
    SERVER = "server"  # 5xx
    CONNECTION = "connection"  # refused, reset, DNS
    MALFORMED = "malformed"  # a body we cannot parse
    UNSUPPORTED = "unsupported"  # the API style has no such operation (Anthropic embeddings)


RETRYABLE_KINDS = frozenset(
    {ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.SERVER, ErrorKind.CONNECTION, ErrorKind.MALFORMED}
)
# Failures that say something about the provider's health (they count towards its breaker).
# Rate limiting and refused requests do not: the provider is up, we are over quota or wrong.
BREAKER_KINDS = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.MODEL_NOT_FOUND,
        ErrorKind.TIMEOUT,
        ErrorKind.SERVER,
        ErrorKind.CONNECTION,
        ErrorKind.MALFORMED,
    }
)


class ProviderError(Exception):
    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    @property
    def counts_for_breaker(self) -> bool:
        return self.kind in BREAKER_KINDS

    def __str__(self) -> str:
        status = f" {self.status}" if self.status else ""
        return f"{self.kind}{status}: {self.message}"


def error_from_status(status: int, message: str, *, retry_after: float | None = None) -> ProviderError:
    """Map an HTTP status to the taxonomy (the same for every vendor)."""
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        kind = ErrorKind.AUTH
    elif status == HTTPStatus.NOT_FOUND:
        kind = ErrorKind.MODEL_NOT_FOUND
    elif status == HTTPStatus.REQUEST_TIMEOUT:
        kind = ErrorKind.TIMEOUT
    elif status == HTTPStatus.TOO_MANY_REQUESTS:
        kind = ErrorKind.RATE_LIMITED
    elif status >= 500:
        kind = ErrorKind.SERVER
    else:
        kind = ErrorKind.BAD_REQUEST
    return ProviderError(kind, message, status=status, retry_after=retry_after)


class ProviderUnavailable(ApplicationError):
    """Every allowed provider failed or was skipped (open breaker, rate limit)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class ClassificationPolicyError(ApplicationError):
    """The data's classification may not go to any provider that is available. The call is refused
    rather than sent to a provider the policy does not allow."""

    status = HTTPStatus.FORBIDDEN


class BudgetExceeded(ApplicationError):
    """The call's expected cost does not fit a budget (per task, per user per day, per day)."""

    status = HTTPStatus.PAYMENT_REQUIRED
