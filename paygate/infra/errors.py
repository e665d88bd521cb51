"""One error family: each error carries its HTTP status, stable code and the field it is about."""

from __future__ import annotations


class PaygateError(Exception):
    """Base of every error a client may see; the middleware turns it into the JSON error shape."""

    status = 400
    code = "BAD_REQUEST_ERROR"

    def __init__(self, description: str, *, field: str | None = None, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.description = description
        self.field = field
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        error = {"code": self.code, "description": self.description}
        if self.field is not None:
            error["field"] = self.field
        return error


class BadRequest(PaygateError):
    status, code = 400, "BAD_REQUEST_ERROR"


class Unauthorized(PaygateError):
    status, code = 401, "AUTHENTICATION_ERROR"


class Forbidden(PaygateError):
    status, code = 403, "FORBIDDEN_ERROR"


class NotFound(PaygateError):
    status, code = 404, "NOT_FOUND_ERROR"


class Conflict(PaygateError):
    status, code = 409, "CONFLICT_ERROR"


class PayloadTooLarge(PaygateError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(PaygateError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class Unprocessable(PaygateError):
    status, code = 422, "UNPROCESSABLE_ERROR"


class TooManyRequests(PaygateError):
    status, code = 429, "RATE_LIMIT_ERROR"


class ServiceUnavailable(PaygateError):
    """Postgres or Redis is out of reach: 503, telling the client when to try again."""

    status, code = 503, "SERVICE_UNAVAILABLE"
    RETRY_AFTER = 5  # seconds: a restart or a fail-over is over in about that

    def __init__(self, description: str, **kwargs):
        kwargs.setdefault("headers", {"Retry-After": str(self.RETRY_AFTER)})
        super().__init__(description, **kwargs)


def no_such(kind: str, object_id: str, *, field: str = "id") -> NotFound:
    """The 404 for an id that names nothing of this merchant's: the kind of object in words, the id quoted."""
    return NotFound(f"no {kind} {object_id!r}", field=field)


class StartupError(Exception):
    """A command cannot start (a service is unreachable, the schema is wrong); one line for the operator."""
