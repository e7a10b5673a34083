"""The one place where Ballena's errors become HTTP status codes (moby's httpstatus.FromError)."""

from __future__ import annotations

from ballena import errors

_STATUS: dict[type[BaseException], int] = {
    errors.InvalidArgument: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.AlreadyExists: 409,
    errors.NotModified: 304,
    errors.Unsupported: 501,
    errors.Unavailable: 503,
    errors.SystemFailure: 500,
}


def status_for(exc: BaseException) -> int:
    return next((_STATUS[c] for c in type(exc).__mro__ if c in _STATUS), 500)


def message_for(exc: BaseException) -> str:
    if isinstance(exc, errors.BallenaError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
