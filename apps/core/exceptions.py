"""Domain errors. Services raise these; the API and views map them to HTTP in one place."""

from http import HTTPStatus


class ApplicationError(Exception):
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    status = HTTPStatus.NOT_FOUND


class PermissionDenied(ApplicationError):
    status = HTTPStatus.FORBIDDEN


class Conflict(ApplicationError):
    """An action that the current state does not allow (e.g. an illegal status transition)."""

    status = HTTPStatus.CONFLICT


class ValidationFailed(ApplicationError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


class PayloadTooLarge(ApplicationError):
    """An upload over a configured limit (file size, file count or total bytes)."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
